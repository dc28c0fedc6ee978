package wire

import "errors"

// Reason is the metric label for an error from this package's framing and
// decoding: the reason of the innermost *FrameError (a message's framing
// is broken), else of the *InvalidError (it frames but is not a valid
// message), else "decode". The forwarder and the collector both label
// their rejections with it, so one input gets one name everywhere.
func Reason(err error) string {
	var fe *FrameError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return "decode"
}

// IsFrameError reports whether err is, or wraps, a framing error.
func IsFrameError(err error) bool {
	var fe *FrameError
	return errors.As(err, &fe)
}
