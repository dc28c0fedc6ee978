package wire

import "github.com/readout-dev/readout/schema"

// Label mirrors schema.Label: metadata that has no field of its own.
type Label struct {
	Key   string
	Value string
}

// A List(Label) is a composite list: a tag word (a struct pointer whose
// offset field holds the element count) and the elements, each a struct of
// no data words and two pointers, followed by the texts in element order,
// as go-capnp allocates them.
const (
	labelDataWords = 0
	labelPtrWords  = 2

	labelKeyPtr   = 0 // pointer indexes
	labelValuePtr = 1

	// compositeElems is the element size code of a list of structs.
	compositeElems = 7

	// MaxLabels is the most labels one list may hold. Elements of a
	// composite list may be empty structs, so without a bound a message of
	// a few words could claim half a billion of them.
	MaxLabels = 256

	// labelMaxFixed bounds what one label adds to an encoding besides the
	// bytes of its texts: its struct, and per text a NUL and padding.
	labelMaxFixed = 8*(labelDataWords+labelPtrWords) + 8*2
	// labelsMaxFixed bounds what a list adds besides its labels: the tag.
	labelsMaxFixed = 8
)

// labelsWords is the size of a List(Label) and its texts; an empty list is
// a null pointer and takes no space.
func labelsWords(ls []Label) int {
	if len(ls) == 0 {
		return 0
	}
	n := 1 + len(ls)*(labelDataWords+labelPtrWords)
	for i := range ls {
		n += textWords(ls[i].Key) + textWords(ls[i].Value)
	}
	return n
}

// labelsFixed bounds what ls adds to an encoding besides its text bytes.
func labelsFixed(ls []Label) int { return labelsMaxFixed + len(ls)*labelMaxFixed }

func labelsTextBytes(ls []Label) int {
	n := 0
	for i := range ls {
		n += len(ls[i].Key) + len(ls[i].Value)
	}
	return n
}

func labelsValid(ls []Label) bool {
	for i := range ls {
		if !validString(ls[i].Key) || !validString(ls[i].Value) {
			return false
		}
	}
	return len(ls) <= MaxLabels
}

// compositeListPointer is a list pointer to a composite list of words
// words (tag excluded) off words after the end of the pointer.
func compositeListPointer(off, words int) pointer {
	return pointer(uint32(off)<<2|ptrList) | compositeElems<<32 | pointer(words)<<35
}

// putLabels writes ls as a List(Label) at word next of seg, points word at
// to it, and returns the next free word; an empty ls leaves a null pointer.
func putLabels(seg []byte, at, next int, ls []Label) int {
	if len(ls) == 0 {
		return next
	}
	const elem = labelDataWords + labelPtrWords
	putPointer(seg[8*at:], compositeListPointer(next-at-1, len(ls)*elem))
	putPointer(seg[8*next:], structPointer(len(ls), labelDataWords, labelPtrWords))
	first := next + 1
	next = first + len(ls)*elem
	for i := range ls {
		ptrs := first + i*elem + labelDataWords
		next = putText(seg, ptrs+labelKeyPtr, next, ls[i].Key)
		next = putText(seg, ptrs+labelValuePtr, next, ls[i].Value)
	}
	return next
}

// labels reads pointer i of parent as a List(Label) and appends its labels
// to dst. A null pointer is the empty list. Only a composite list is
// accepted ("list", where go-capnp would also read some other list kinds),
// of at most MaxLabels elements ("list"); elements smaller than a Label read
// their missing fields as "", as the spec says.
func (r *decReader) labels(parent *decStruct, i int, dst []Label) ([]Label, error) {
	if i >= parent.nptr {
		return dst, nil
	}
	seg, at := parent.seg, parent.ptrs+8*i
	p := readPointer(r.frame[at:])
	base := at + 8
	if p.kind() == ptrFar {
		var err error
		if p, seg, base, err = r.far(p); err != nil {
			return dst, err
		}
	}
	if p == 0 {
		return dst, nil
	}
	if p.kind() != ptrList {
		return dst, decKindError(p, "List(Label)")
	}
	if p.elemSize() != compositeElems {
		return dst, invalid(ReasonList, "element size code %d where a list of structs belongs", p.elemSize())
	}
	words := p.listLen()
	addr := decTarget(p, seg, base, 8+8*words)
	if addr < 0 {
		return dst, decBoundsError()
	}
	tag := readPointer(r.frame[addr:])
	if tag.kind() != ptrStruct {
		return dst, invalid(ReasonList, "composite list tag of kind %d", tag.kind())
	}
	n := int(tag.offset())
	size := tag.dataWords() + tag.ptrWords()
	switch {
	case n < 0:
		return dst, invalid(ReasonList, "composite list of %d elements", n)
	case n > MaxLabels:
		return dst, invalid(ReasonList, "%d labels, more than %d", n, MaxLabels)
	case n*size > words:
		// go-capnp checks the elements against the segment only; the
		// spec's list size is the bound here ("list", a stricter rule).
		return dst, invalid(ReasonList, "%d elements of %d words in a list of %d words", n, size, words)
	}
	for e := 0; e < n; e++ {
		el := addr + 8 + 8*e*size
		s := decStruct{
			seg:  seg,
			data: r.frame[el : el+8*tag.dataWords() : el+8*tag.dataWords()],
			ptrs: el + 8*tag.dataWords(),
			nptr: tag.ptrWords(),
		}
		var l Label
		var err error
		if l.Key, err = r.text(&s, labelKeyPtr); err != nil {
			return dst, err
		}
		if l.Value, err = r.text(&s, labelValuePtr); err != nil {
			return dst, err
		}
		dst = append(dst, l)
	}
	return dst, nil
}

// setLabelsCapnp is the go-capnp reference encoder of a List(Label): newList
// is the generated NewX of the field. An empty ls is not set at all.
func setLabelsCapnp(ls []Label, newList func(int32) (schema.Label_List, error)) error {
	if len(ls) == 0 {
		return nil
	}
	l, err := newList(int32(len(ls)))
	if err != nil {
		return err
	}
	for i := range ls {
		el := l.At(i)
		if err := el.SetKey(ls[i].Key); err != nil {
			return err
		}
		if err := el.SetValue(ls[i].Value); err != nil {
			return err
		}
	}
	return nil
}

// readLabelsCapnp is the go-capnp reference decoder of a List(Label); the
// empty list reads as nil.
func readLabelsCapnp(l schema.Label_List, err error) ([]Label, error) {
	if err != nil || l.Len() == 0 {
		return nil, err
	}
	if l.Len() > MaxLabels {
		return nil, invalid(ReasonList, "%d labels, more than %d", l.Len(), MaxLabels)
	}
	out := make([]Label, l.Len())
	for i := range out {
		el := l.At(i)
		if out[i].Key, err = el.Key(); err != nil {
			return nil, err
		}
		if out[i].Value, err = el.Value(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// labelsInto reads pointer i of s as a List(Label) into the reused buffer
// *buf and returns the field's labels, a slice of it (nil when empty).
func (r *decReader) labelsInto(s *decStruct, i int, buf *[]Label) ([]Label, error) {
	start := len(*buf)
	out, err := r.labels(s, i, *buf)
	*buf = out
	if err != nil || len(out) == start {
		return nil, err
	}
	return out[start:len(out):len(out)], nil
}
