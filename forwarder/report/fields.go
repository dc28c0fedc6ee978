package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/readout-dev/readout/wire"
)

// reqError is a request refused before its event reached the spool: the
// status, a metric label, and the one line the client reads.
type reqError struct {
	code   int
	reason string
	msg    string
}

func (e *reqError) Error() string { return e.msg }

// Rejection reasons (the label of readout_forwarder_report_rejected_total).
const (
	reasonBadJSON      = "bad_json"      // not JSON, or not an object
	reasonMissing      = "missing_field" // a required field absent or null
	reasonWrongType    = "wrong_type"    // a field of the wrong JSON type
	reasonBadValue     = "bad_value"     // a value out of range or inconsistent
	reasonTooLarge     = "too_large"     // body over MaxBodyBytes, or event over --max-message-size
	reasonInvalidEvent = "invalid_event" // the encoded event failed the wire validation
	reasonRateLimited  = "rate_limited"
	reasonUnauthorized = "unauthorized"
	reasonMethod       = "method_not_allowed"
	reasonNotFound     = "not_found"
	reasonDraining     = "draining"
	reasonSpoolFull    = "spool_full"
	reasonNotDurable   = "not_durable"
)

var allReasons = []string{reasonBadJSON, reasonMissing, reasonWrongType, reasonBadValue, reasonTooLarge,
	reasonInvalidEvent, reasonRateLimited, reasonUnauthorized, reasonMethod, reasonNotFound, reasonDraining,
	reasonSpoolFull, reasonNotDurable}

// fields reads one JSON object's members by name. The first problem is
// kept in err, and every later read returns a zero value, so that a
// conversion reads as a list of fields followed by one error check.
type fields struct {
	m   map[string]json.RawMessage
	err *reqError
}

// parseObject decodes a body that must be one JSON object. Members not
// read are ignored (a newer client may send more).
func parseObject(body []byte) (*fields, *reqError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &reqError{http.StatusBadRequest, reasonBadJSON, "body: want a JSON object, got " + te.Value}
		}
		return nil, &reqError{http.StatusBadRequest, reasonBadJSON, "body: bad JSON: " + oneLine(err.Error())}
	}
	if m == nil {
		return nil, &reqError{http.StatusBadRequest, reasonBadJSON, "body: want a JSON object, got null"}
	}
	return &fields{m: m}, nil
}

func (f *fields) fail(code int, reason, format string, args ...any) {
	if f.err == nil {
		f.err = &reqError{code, reason, oneLine(fmt.Sprintf(format, args...))}
	}
}

// raw returns a member that is present and not null. A required member
// that is absent or null is an error.
func (f *fields) raw(name string, required bool) (json.RawMessage, bool) {
	if f.err != nil {
		return nil, false
	}
	r, ok := f.m[name]
	if !ok || string(r) == "null" {
		if required {
			f.fail(http.StatusBadRequest, reasonMissing, "field %q is required", name)
		}
		return nil, false
	}
	return r, true
}

// decode unmarshals a present member into v, want naming the type for
// the error.
func (f *fields) decode(name string, r json.RawMessage, v any, want string) bool {
	if err := json.Unmarshal(r, v); err != nil {
		f.fail(http.StatusBadRequest, reasonWrongType, "field %q: want %s, got %s", name, want, clip(string(r)))
		return false
	}
	return true
}

// str reads a string member.
func (f *fields) str(name string, required bool) string {
	r, ok := f.raw(name, required)
	var s string
	if ok {
		f.decode(name, r, &s, "a string")
	}
	return s
}

// number reads a finite number (JSON has no other kind).
func (f *fields) number(name string, required bool) (float64, bool) {
	r, ok := f.raw(name, required)
	var v float64
	if !ok || !f.decode(name, r, &v, "a number") {
		return 0, false
	}
	return v, true
}

// seconds reads a number of seconds from 0 to limit.
func (f *fields) seconds(name string, required bool, limit float64) (float64, bool) {
	v, ok := f.number(name, required)
	if ok && (v < 0 || v > limit) {
		f.fail(http.StatusBadRequest, reasonBadValue, "field %q: %v seconds is outside 0 to %v", name, v, limit)
		return 0, false
	}
	return v, ok
}

// uint64 reads a non-negative integer.
func (f *fields) uint64(name string, required bool) uint64 {
	r, ok := f.raw(name, required)
	var v uint64
	if ok {
		f.decode(name, r, &v, "an integer from 0 to 18446744073709551615")
	}
	return v
}

// uint32 reads a non-negative integer that fits 32 bits.
func (f *fields) uint32(name string, required bool) uint32 {
	r, ok := f.raw(name, required)
	var v uint32
	if ok {
		f.decode(name, r, &v, "an integer from 0 to 4294967295")
	}
	return v
}

// labels reads an object of strings as labels sorted by key. JSON null
// counts as an empty object (Go encodes a nil map so), and so does a
// required member that is null; an absent required member is an error.
func (f *fields) labels(name string, required bool) []wire.Label {
	if f.err != nil {
		return nil
	}
	r, ok := f.m[name]
	if !ok {
		if required {
			f.fail(http.StatusBadRequest, reasonMissing, "field %q is required (an object of strings; null for none)", name)
		}
		return nil
	}
	var m map[string]string
	if !f.decode(name, r, &m, "an object of strings") {
		return nil
	}
	if len(m) > wire.MaxLabels {
		f.fail(http.StatusBadRequest, reasonBadValue, "field %q: %d entries, at most %d", name, len(m), wire.MaxLabels)
		return nil
	}
	ls := make([]wire.Label, 0, len(m))
	for k, v := range m {
		ls = append(ls, wire.Label{Key: k, Value: v})
	}
	slices.SortFunc(ls, func(a, b wire.Label) int { return strings.Compare(a.Key, b.Key) })
	return ls
}

// Unix nanoseconds reach from 1677-09-21 to 2262-04-11.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timestamp reads an RFC 3339 time as Unix nanoseconds. An empty string
// and Go's zero time (0001-01-01T00:00:00Z, what a Go client sends for a
// time.Time never set) count as absent.
func (f *fields) timestamp(name string, required bool) (int64, bool) {
	s := f.str(name, required)
	if f.err != nil {
		return 0, false
	}
	if s == "" {
		if required {
			f.fail(http.StatusBadRequest, reasonMissing, "field %q is required (an RFC 3339 time)", name)
		}
		return 0, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		f.fail(http.StatusBadRequest, reasonBadValue, "field %q: %s is not an RFC 3339 time", name, clip(s))
		return 0, false
	}
	if t.IsZero() {
		if required {
			f.fail(http.StatusBadRequest, reasonMissing, "field %q is the zero time", name)
		}
		return 0, false
	}
	if t.Before(minTime) || t.After(maxTime) {
		f.fail(http.StatusBadRequest, reasonBadValue, "field %q: %s is outside the years 1678 to 2262", name, clip(s))
		return 0, false
	}
	return t.UnixNano(), true
}

// clip keeps a value quoted in an error message short.
func clip(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "..."
	}
	return s
}

// oneLine keeps an error message on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// roundScaled returns round(v*scale) when it fits below 2^64 (v >= 0).
func roundScaled(v, scale float64) (uint64, bool) {
	x := math.Round(v * scale)
	if !(x >= 0 && x < 0x1p64) {
		return 0, false
	}
	return uint64(x), true
}
