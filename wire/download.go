package wire

import (
	"math"

	"github.com/readout-dev/readout/schema"
)

// The download kind: one reported download. Everything the codecs know
// about schema.DownloadEvent is in this file; kinds.go routes to it.

// Download mirrors schema.DownloadEvent; see events.capnp.
type Download struct {
	URL            string
	Host           string
	SizeBytes      uint64
	DurationUs     uint64
	BytesPerSecond float64
	Error          string
	InstanceID     string
}

// DownloadEvent's layout (see layout.go).
const (
	downloadDataWords = 3
	downloadPtrWords  = 4
	downloadTexts     = 4

	downloadSizeBytes      = 0 // data section byte offsets
	downloadDurationUs     = 8
	downloadBytesPerSecond = 16

	downloadURLPtr        = 0 // pointer indexes
	downloadHostPtr       = 1
	downloadErrorPtr      = 2
	downloadInstanceIDPtr = 3

	downloadMaxFixed = 8*(downloadDataWords+downloadPtrWords) + 8*downloadTexts
)

func (v *Download) texts() [downloadTexts]string {
	return [...]string{v.URL, v.Host, v.Error, v.InstanceID}
}

func (v *Download) words() int {
	n := downloadDataWords + downloadPtrWords
	for _, s := range v.texts() {
		n += textWords(s)
	}
	return n
}

func (v *Download) textBytes() int {
	return len(v.URL) + len(v.Host) + len(v.Error) + len(v.InstanceID)
}

func (v *Download) fixed() int { return downloadMaxFixed }

func (v *Download) validText() bool {
	return validString(v.URL) && validString(v.Host) && validString(v.Error) && validString(v.InstanceID)
}

func (v *Download) put(seg []byte, at, next int) int {
	s := next
	ptrs := s + downloadDataWords
	putPointer(seg[8*at:], structPointer(s-at-1, downloadDataWords, downloadPtrWords))
	next = ptrs + downloadPtrWords
	d := (*[8 * downloadDataWords]byte)(seg[8*s:])
	le.PutUint64(d[downloadSizeBytes:], v.SizeBytes)
	le.PutUint64(d[downloadDurationUs:], v.DurationUs)
	le.PutUint64(d[downloadBytesPerSecond:], math.Float64bits(v.BytesPerSecond))
	for i, t := range v.texts() {
		next = putText(seg, ptrs+i, next, t)
	}
	return next
}

func (r *decReader) download(parent *decStruct, v *Download) error {
	s, err := r.structPtr(parent, eventMemberPtr)
	if err != nil {
		return err
	}
	var d [8 * downloadDataWords]byte
	copy(d[:], s.data)
	v.SizeBytes = le.Uint64(d[downloadSizeBytes:])
	v.DurationUs = le.Uint64(d[downloadDurationUs:])
	v.BytesPerSecond = math.Float64frombits(le.Uint64(d[downloadBytesPerSecond:]))
	for i, p := range [...]*string{&v.URL, &v.Host, &v.Error, &v.InstanceID} {
		if *p, err = r.text(&s, i); err != nil {
			return err
		}
	}
	return nil
}

func (v *Download) setCapnp(e schema.Event) error {
	d, err := e.NewDownload()
	if err != nil {
		return err
	}
	d.SetSizeBytes(v.SizeBytes)
	d.SetDurationUs(v.DurationUs)
	d.SetBytesPerSecond(v.BytesPerSecond)
	for _, set := range []func() error{
		func() error { return d.SetUrl(v.URL) },
		func() error { return d.SetHost(v.Host) },
		func() error { return d.SetError(v.Error) },
		func() error { return d.SetInstanceId(v.InstanceID) },
	} {
		if err := set(); err != nil {
			return err
		}
	}
	return nil
}

func (v *Download) readCapnp(e schema.Event) error {
	d, err := e.Download()
	if err != nil {
		return err
	}
	v.SizeBytes = d.SizeBytes()
	v.DurationUs = d.DurationUs()
	v.BytesPerSecond = d.BytesPerSecond()
	for _, get := range []func() error{
		func() (err error) { v.URL, err = d.Url(); return },
		func() (err error) { v.Host, err = d.Host(); return },
		func() (err error) { v.Error, err = d.Error(); return },
		func() (err error) { v.InstanceID, err = d.InstanceId(); return },
	} {
		if err := get(); err != nil {
			return err
		}
	}
	return nil
}
