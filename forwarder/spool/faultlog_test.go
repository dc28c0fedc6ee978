package spool

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestFaultLog: a housekeeping failure retried at every release is logged
// once when it starts, once more as a warning when it persists, and anew
// after a success.
func TestFaultLog(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	var f faultLog
	errNope := errors.New("operation not permitted")
	steps := []struct {
		name string
		do   func()
		want []zapcore.Level // levels logged by this step
	}{
		{"first failure", func() { f.fail(log, "x", zap.Error(errNope)) }, []zapcore.Level{zap.InfoLevel}},
		{"repeated", func() {
			for range 100 {
				f.fail(log, "x", zap.Error(errNope))
			}
		}, nil},
		{"persists", func() { f.since = f.since.Add(-faultEscalate); f.fail(log, "x") }, []zapcore.Level{zap.WarnLevel}},
		{"persists more", func() { f.fail(log, "x") }, nil},
		{"recovers and fails again", func() { f.ok(); f.fail(log, "x") }, []zapcore.Level{zap.InfoLevel}},
	}
	for _, st := range steps {
		logs.TakeAll()
		st.do()
		got := logs.TakeAll()
		if len(got) != len(st.want) {
			t.Fatalf("%s: %d lines logged; want %d", st.name, len(got), len(st.want))
		}
		for i, e := range got {
			if e.Level != st.want[i] {
				t.Errorf("%s: line %d at %s; want %s", st.name, i, e.Level, st.want[i])
			}
		}
	}
}
