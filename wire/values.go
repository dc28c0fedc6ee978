package wire

// ReasonValue: a field holds a value its kind rules out (an enumerant this
// version does not know, state times that do not add up to their
// interval). Both decoders apply these rules, so the forwarder refuses
// such an event and the collector never has to decide what it means.
const ReasonValue = "value"

// checkValues applies the rules on values that the wire format itself does
// not express. Inference events have none: an unknown request source is
// stored as "unknown", as it always was.
func checkValues(ev *Event) error {
	switch ev.Kind {
	case KindLifecycle:
		if ev.Lifecycle.EventType != LifecycleEndpoint {
			return invalid(ReasonValue, "lifecycle eventType %d is not an enumerant", ev.Lifecycle.EventType)
		}
	case KindInstanceState:
		return ev.InstanceState.checkValues()
	case KindSetupRun:
		if !ev.SetupRun.Status.Valid() {
			return invalid(ReasonValue, "setup run status %d is not an enumerant", ev.SetupRun.Status)
		}
	case KindPrediction:
		if !ev.Prediction.Status.Valid() {
			return invalid(ReasonValue, "prediction status %d is not an enumerant", ev.Prediction.Status)
		}
	}
	return nil
}

// checkValues: the interval is not empty and the three state times add up
// to it exactly, so that every report's time is accounted for once.
func (v *InstanceState) checkValues() error {
	if v.IntervalEndNs <= v.IntervalStartNs {
		return invalid(ReasonValue, "instance state interval ends at %d, not after its start %d", v.IntervalEndNs, v.IntervalStartNs)
	}
	span := uint64(v.IntervalEndNs - v.IntervalStartNs) // exact: end > start
	sum, over := v.ActiveNs, false
	for _, t := range [...]uint64{v.BootNs, v.IdleNs} {
		if sum+t < sum {
			over = true
		}
		sum += t
	}
	if over || sum != span {
		return invalid(ReasonValue, "instance state active+boot+idle is not the interval of %d ns", span)
	}
	return nil
}
