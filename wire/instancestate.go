package wire

import "github.com/readout-dev/readout/schema"

// The instance-state kind: how one model instance spent one reporting
// interval. Everything the codecs know about schema.InstanceStateEvent is
// in this file; kinds.go routes to it.

// InstanceState mirrors schema.InstanceStateEvent; see events.capnp.
type InstanceState struct {
	IntervalStartNs  int64
	IntervalEndNs    int64
	ActiveNs         uint64
	BootNs           uint64
	IdleNs           uint64
	ConcurrencyNs    uint64
	DeploymentKey    string
	DockerImageURI   string
	Hardware         string
	ComputeUnit      string
	InstanceID       string
	Version          string
	ComputeUnitCount uint32
	InstanceMetadata []Label
}

// InstanceStateEvent's layout (see layout.go).
const (
	instanceStateDataWords = 7
	instanceStatePtrWords  = 7
	instanceStateTexts     = 6

	instanceStateIntervalStart    = 0 // data section byte offsets
	instanceStateIntervalEnd      = 8
	instanceStateActive           = 16
	instanceStateBoot             = 24
	instanceStateIdle             = 32
	instanceStateConcurrency      = 40
	instanceStateComputeUnitCount = 48

	instanceStateDeploymentKeyPtr = 0 // pointer indexes
	instanceStateDockerImagePtr   = 1
	instanceStateHardwarePtr      = 2
	instanceStateComputeUnitPtr   = 3
	instanceStateInstanceIDPtr    = 4
	instanceStateVersionPtr       = 5
	instanceStateMetadataPtr      = 6
	instanceStateMaxFixedNoLabels = 8*(instanceStateDataWords+instanceStatePtrWords) + 8*instanceStateTexts
)

func (v *InstanceState) texts() [instanceStateTexts]string {
	return [...]string{v.DeploymentKey, v.DockerImageURI, v.Hardware, v.ComputeUnit, v.InstanceID, v.Version}
}

// words is the size of the member struct and what it points to.
func (v *InstanceState) words() int {
	n := instanceStateDataWords + instanceStatePtrWords + labelsWords(v.InstanceMetadata)
	for _, s := range v.texts() {
		n += textWords(s)
	}
	return n
}

// textBytes is the length of its texts, labels included; fixed bounds the
// rest of its encoding.
func (v *InstanceState) textBytes() int {
	n := labelsTextBytes(v.InstanceMetadata)
	for _, s := range v.texts() {
		n += len(s)
	}
	return n
}

func (v *InstanceState) fixed() int {
	return instanceStateMaxFixedNoLabels + labelsFixed(v.InstanceMetadata)
}

// validText reports whether every text is valid UTF-8 and the label list
// within MaxLabels, as DecodeEvent requires.
func (v *InstanceState) validText() bool {
	for _, s := range v.texts() {
		if !validString(s) {
			return false
		}
	}
	return labelsValid(v.InstanceMetadata)
}

// put writes v as a struct at word next of seg, points word at to it, and
// returns the next free word.
func (v *InstanceState) put(seg []byte, at, next int) int {
	s := next
	ptrs := s + instanceStateDataWords
	putPointer(seg[8*at:], structPointer(s-at-1, instanceStateDataWords, instanceStatePtrWords))
	next = ptrs + instanceStatePtrWords
	d := (*[8 * instanceStateDataWords]byte)(seg[8*s:])
	le.PutUint64(d[instanceStateIntervalStart:], uint64(v.IntervalStartNs))
	le.PutUint64(d[instanceStateIntervalEnd:], uint64(v.IntervalEndNs))
	le.PutUint64(d[instanceStateActive:], v.ActiveNs)
	le.PutUint64(d[instanceStateBoot:], v.BootNs)
	le.PutUint64(d[instanceStateIdle:], v.IdleNs)
	le.PutUint64(d[instanceStateConcurrency:], v.ConcurrencyNs)
	le.PutUint32(d[instanceStateComputeUnitCount:], v.ComputeUnitCount)
	for i, t := range v.texts() {
		next = putText(seg, ptrs+i, next, t)
	}
	return putLabels(seg, ptrs+instanceStateMetadataPtr, next, v.InstanceMetadata)
}

// instanceState decodes the member struct of parent into v, appending its
// labels to *labels (the Event's reused buffer).
func (r *decReader) instanceState(parent *decStruct, v *InstanceState, labels *[]Label) error {
	s, err := r.structPtr(parent, eventMemberPtr)
	if err != nil {
		return err
	}
	var pad [8 * instanceStateDataWords]byte
	d := &pad
	copy(d[:], s.data)
	v.IntervalStartNs = int64(le.Uint64(d[instanceStateIntervalStart:]))
	v.IntervalEndNs = int64(le.Uint64(d[instanceStateIntervalEnd:]))
	v.ActiveNs = le.Uint64(d[instanceStateActive:])
	v.BootNs = le.Uint64(d[instanceStateBoot:])
	v.IdleNs = le.Uint64(d[instanceStateIdle:])
	v.ConcurrencyNs = le.Uint64(d[instanceStateConcurrency:])
	v.ComputeUnitCount = le.Uint32(d[instanceStateComputeUnitCount:])
	for i, p := range [...]*string{&v.DeploymentKey, &v.DockerImageURI, &v.Hardware, &v.ComputeUnit, &v.InstanceID, &v.Version} {
		if *p, err = r.text(&s, i); err != nil {
			return err
		}
	}
	v.InstanceMetadata, err = r.labelsInto(&s, instanceStateMetadataPtr, labels)
	return err
}

// setCapnp is the go-capnp reference encoder of v into e's union.
func (v *InstanceState) setCapnp(e schema.Event) error {
	is, err := e.NewInstanceState()
	if err != nil {
		return err
	}
	is.SetIntervalStartNs(v.IntervalStartNs)
	is.SetIntervalEndNs(v.IntervalEndNs)
	is.SetActiveNs(v.ActiveNs)
	is.SetBootNs(v.BootNs)
	is.SetIdleNs(v.IdleNs)
	is.SetConcurrencyNs(v.ConcurrencyNs)
	is.SetComputeUnitCount(v.ComputeUnitCount)
	for _, set := range []func() error{
		func() error { return is.SetDeploymentKey(v.DeploymentKey) },
		func() error { return is.SetDockerImageUri(v.DockerImageURI) },
		func() error { return is.SetHardware(v.Hardware) },
		func() error { return is.SetComputeUnit(v.ComputeUnit) },
		func() error { return is.SetInstanceId(v.InstanceID) },
		func() error { return is.SetVersion(v.Version) },
		func() error { return setLabelsCapnp(v.InstanceMetadata, is.NewInstanceMetadata) },
	} {
		if err := set(); err != nil {
			return err
		}
	}
	return nil
}

// readCapnp is the go-capnp reference decoder of e's union into v.
func (v *InstanceState) readCapnp(e schema.Event) error {
	is, err := e.InstanceState()
	if err != nil {
		return err
	}
	v.IntervalStartNs = is.IntervalStartNs()
	v.IntervalEndNs = is.IntervalEndNs()
	v.ActiveNs = is.ActiveNs()
	v.BootNs = is.BootNs()
	v.IdleNs = is.IdleNs()
	v.ConcurrencyNs = is.ConcurrencyNs()
	v.ComputeUnitCount = is.ComputeUnitCount()
	for _, get := range []func() error{
		func() (err error) { v.DeploymentKey, err = is.DeploymentKey(); return },
		func() (err error) { v.DockerImageURI, err = is.DockerImageUri(); return },
		func() (err error) { v.Hardware, err = is.Hardware(); return },
		func() (err error) { v.ComputeUnit, err = is.ComputeUnit(); return },
		func() (err error) { v.InstanceID, err = is.InstanceId(); return },
		func() (err error) { v.Version, err = is.Version(); return },
		func() (err error) { v.InstanceMetadata, err = readLabelsCapnp(is.InstanceMetadata()); return },
	} {
		if err := get(); err != nil {
			return err
		}
	}
	return nil
}
