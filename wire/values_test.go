package wire

import (
	"errors"
	"math"
	"testing"
)

// TestValueRules: both decoders refuse, with reason "value", exactly the
// events whose values their kind rules out, and accept the edge cases.
func TestValueRules(t *testing.T) {
	state := func(f func(*InstanceState)) Event {
		ev := sampleEvent(KindInstanceState)
		f(&ev.InstanceState)
		return ev
	}
	cases := []struct {
		name string
		ev   Event
		ok   bool
	}{
		{"sample instance state", sampleEvent(KindInstanceState), true},
		{"all boot", state(func(v *InstanceState) { v.ActiveNs, v.BootNs, v.IdleNs = 0, 15e9, 0 }), true},
		{"one nanosecond short", state(func(v *InstanceState) { v.IdleNs-- }), false},
		{"one nanosecond over", state(func(v *InstanceState) { v.ActiveNs++ }), false},
		{"empty interval", state(func(v *InstanceState) {
			v.IntervalEndNs = v.IntervalStartNs
			v.ActiveNs, v.BootNs, v.IdleNs = 0, 0, 0
		}), false},
		{"interval backwards", state(func(v *InstanceState) { v.IntervalStartNs, v.IntervalEndNs = v.IntervalEndNs, v.IntervalStartNs }), false},
		{"sum wraps around", state(func(v *InstanceState) { v.ActiveNs, v.BootNs = math.MaxUint64, 15e9-v.IdleNs+1 }), false},
		{"widest interval", state(func(v *InstanceState) {
			v.IntervalStartNs, v.IntervalEndNs = math.MinInt64, math.MaxInt64
			v.ActiveNs, v.BootNs, v.IdleNs = math.MaxUint64-2, 1, 1
		}), true},
		{"setup status 4", func() Event { ev := sampleEvent(KindSetupRun); ev.SetupRun.Status = 4; return ev }(), false},
		{"prediction status 5", func() Event { ev := sampleEvent(KindPrediction); ev.Prediction.Status = 5; return ev }(), false},
		{"prediction processing", func() Event {
			ev := sampleEvent(KindPrediction)
			ev.Prediction.Status = PredictionProcessing
			return ev
		}(), true},
		{"lifecycle type 1", func() Event { ev := sampleEvent(KindLifecycle); ev.Lifecycle.EventType = 1; return ev }(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := AppendEvent(nil, &tc.ev)
			var got Event
			fastErr := DecodeEvent(frame, &got)
			_, refErr := DecodeEventCapnp(frame)
			for name, err := range map[string]error{"DecodeEvent": fastErr, "DecodeEventCapnp": refErr} {
				var ie *InvalidError
				switch {
				case tc.ok && err != nil:
					t.Fatalf("%s: %v; want accepted", name, err)
				case !tc.ok && (!errors.As(err, &ie) || ie.Reason != ReasonValue):
					t.Fatalf("%s: %v; want reason %q", name, err, ReasonValue)
				}
			}
		})
	}
}
