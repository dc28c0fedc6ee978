package wire

import (
	"errors"
	"fmt"
	"testing"
)

func TestReason(t *testing.T) {
	frame := &FrameError{Reason: "size", Detail: "too big"}
	for _, c := range []struct {
		err   error
		want  string
		frame bool
	}{
		{frame, "size", true},
		{fmt.Errorf("event 3: %w", frame), "size", true},
		{&InvalidError{Reason: "union", Err: errors.New("x")}, "union", false},
		{&InvalidError{Reason: "decode", Err: frame}, "size", true}, // the framing is the cause
		{errors.New("something else"), "decode", false},
	} {
		if got := Reason(c.err); got != c.want || IsFrameError(c.err) != c.frame {
			t.Errorf("%v: got %q, frame %v; want %q, %v", c.err, got, IsFrameError(c.err), c.want, c.frame)
		}
	}
}
