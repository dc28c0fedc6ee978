package wire

import "github.com/readout-dev/readout/schema"

// The setup-run kind: a model instance's setup, reported once when it ends.
// Everything the codecs know about schema.SetupRunEvent is in this file;
// kinds.go routes to it.

// SetupStatus mirrors schema.SetupStatus.
type SetupStatus uint16

// Setup statuses, numbered as on the wire.
const (
	SetupUnknown SetupStatus = 0
	SetupReady   SetupStatus = 1
	SetupFailed  SetupStatus = 2
	SetupTimeout SetupStatus = 3
)

// String returns the schema's enumerant name.
func (s SetupStatus) String() string {
	switch s {
	case SetupReady:
		return "ready"
	case SetupFailed:
		return "failed"
	case SetupTimeout:
		return "timeout"
	}
	return "unknown"
}

// Valid reports whether s is an enumerant this version knows.
func (s SetupStatus) Valid() bool { return s <= SetupTimeout }

// SetupRun mirrors schema.SetupRunEvent; see events.capnp.
type SetupRun struct {
	Status           SetupStatus
	ScheduledAtNs    int64
	StartedAtNs      int64
	CompletedAtNs    int64
	Logs             string
	LogsDroppedBytes uint64
	DeploymentKey    string
	InstanceID       string
	InstanceMetadata []Label
	RuntimeMetadata  []Label
}

// SetupRunEvent's layout (see layout.go).
const (
	setupRunDataWords = 5
	setupRunPtrWords  = 5
	setupRunTexts     = 3

	setupRunStatus      = 0 // data section byte offsets
	setupRunScheduledAt = 8
	setupRunStartedAt   = 16
	setupRunCompletedAt = 24
	setupRunLogsDropped = 32

	setupRunLogsPtr          = 0 // pointer indexes
	setupRunDeploymentKeyPtr = 1
	setupRunInstanceIDPtr    = 2
	setupRunInstanceMetaPtr  = 3
	setupRunRuntimeMetaPtr   = 4
	setupRunMaxFixedNoLabels = 8*(setupRunDataWords+setupRunPtrWords) + 8*setupRunTexts
)

func (v *SetupRun) words() int {
	return setupRunDataWords + setupRunPtrWords + textWords(v.Logs) + textWords(v.DeploymentKey) +
		textWords(v.InstanceID) + labelsWords(v.InstanceMetadata) + labelsWords(v.RuntimeMetadata)
}

func (v *SetupRun) textBytes() int {
	return len(v.Logs) + len(v.DeploymentKey) + len(v.InstanceID) +
		labelsTextBytes(v.InstanceMetadata) + labelsTextBytes(v.RuntimeMetadata)
}

func (v *SetupRun) fixed() int {
	return setupRunMaxFixedNoLabels + labelsFixed(v.InstanceMetadata) + labelsFixed(v.RuntimeMetadata)
}

func (v *SetupRun) validText() bool {
	return validString(v.Logs) && validString(v.DeploymentKey) && validString(v.InstanceID) &&
		labelsValid(v.InstanceMetadata) && labelsValid(v.RuntimeMetadata)
}

func (v *SetupRun) put(seg []byte, at, next int) int {
	s := next
	ptrs := s + setupRunDataWords
	putPointer(seg[8*at:], structPointer(s-at-1, setupRunDataWords, setupRunPtrWords))
	next = ptrs + setupRunPtrWords
	d := (*[8 * setupRunDataWords]byte)(seg[8*s:])
	le.PutUint16(d[setupRunStatus:], uint16(v.Status))
	le.PutUint64(d[setupRunScheduledAt:], uint64(v.ScheduledAtNs))
	le.PutUint64(d[setupRunStartedAt:], uint64(v.StartedAtNs))
	le.PutUint64(d[setupRunCompletedAt:], uint64(v.CompletedAtNs))
	le.PutUint64(d[setupRunLogsDropped:], v.LogsDroppedBytes)
	next = putText(seg, ptrs+setupRunLogsPtr, next, v.Logs)
	next = putText(seg, ptrs+setupRunDeploymentKeyPtr, next, v.DeploymentKey)
	next = putText(seg, ptrs+setupRunInstanceIDPtr, next, v.InstanceID)
	next = putLabels(seg, ptrs+setupRunInstanceMetaPtr, next, v.InstanceMetadata)
	return putLabels(seg, ptrs+setupRunRuntimeMetaPtr, next, v.RuntimeMetadata)
}

func (r *decReader) setupRun(parent *decStruct, v *SetupRun, labels *[]Label) error {
	s, err := r.structPtr(parent, eventMemberPtr)
	if err != nil {
		return err
	}
	var d [8 * setupRunDataWords]byte
	copy(d[:], s.data)
	v.Status = SetupStatus(le.Uint16(d[setupRunStatus:]))
	v.ScheduledAtNs = int64(le.Uint64(d[setupRunScheduledAt:]))
	v.StartedAtNs = int64(le.Uint64(d[setupRunStartedAt:]))
	v.CompletedAtNs = int64(le.Uint64(d[setupRunCompletedAt:]))
	v.LogsDroppedBytes = le.Uint64(d[setupRunLogsDropped:])
	if v.Logs, err = r.text(&s, setupRunLogsPtr); err != nil {
		return err
	}
	if v.DeploymentKey, err = r.text(&s, setupRunDeploymentKeyPtr); err != nil {
		return err
	}
	if v.InstanceID, err = r.text(&s, setupRunInstanceIDPtr); err != nil {
		return err
	}
	if v.InstanceMetadata, err = r.labelsInto(&s, setupRunInstanceMetaPtr, labels); err != nil {
		return err
	}
	v.RuntimeMetadata, err = r.labelsInto(&s, setupRunRuntimeMetaPtr, labels)
	return err
}

func (v *SetupRun) setCapnp(e schema.Event) error {
	sr, err := e.NewSetupRun()
	if err != nil {
		return err
	}
	sr.SetStatus(schema.SetupStatus(v.Status))
	sr.SetScheduledAtNs(v.ScheduledAtNs)
	sr.SetStartedAtNs(v.StartedAtNs)
	sr.SetCompletedAtNs(v.CompletedAtNs)
	sr.SetLogsDroppedBytes(v.LogsDroppedBytes)
	for _, set := range []func() error{
		func() error { return sr.SetLogs(v.Logs) },
		func() error { return sr.SetDeploymentKey(v.DeploymentKey) },
		func() error { return sr.SetInstanceId(v.InstanceID) },
		func() error { return setLabelsCapnp(v.InstanceMetadata, sr.NewInstanceMetadata) },
		func() error { return setLabelsCapnp(v.RuntimeMetadata, sr.NewRuntimeMetadata) },
	} {
		if err := set(); err != nil {
			return err
		}
	}
	return nil
}

func (v *SetupRun) readCapnp(e schema.Event) error {
	sr, err := e.SetupRun()
	if err != nil {
		return err
	}
	v.Status = SetupStatus(sr.Status())
	v.ScheduledAtNs = sr.ScheduledAtNs()
	v.StartedAtNs = sr.StartedAtNs()
	v.CompletedAtNs = sr.CompletedAtNs()
	v.LogsDroppedBytes = sr.LogsDroppedBytes()
	for _, get := range []func() error{
		func() (err error) { v.Logs, err = sr.Logs(); return },
		func() (err error) { v.DeploymentKey, err = sr.DeploymentKey(); return },
		func() (err error) { v.InstanceID, err = sr.InstanceId(); return },
		func() (err error) { v.InstanceMetadata, err = readLabelsCapnp(sr.InstanceMetadata()); return },
		func() (err error) { v.RuntimeMetadata, err = readLabelsCapnp(sr.RuntimeMetadata()); return },
	} {
		if err := get(); err != nil {
			return err
		}
	}
	return nil
}
