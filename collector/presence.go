package collector

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// Endpoint presences from lifecycle events (design.md: the lifecycle table,
// one row per presence). An appearance (endTs 0) opens a presence; its
// disappearance (beginTs of the appearance, endTs) closes it, whichever
// reaches the collector first, in any batch, before or after a restart:
//
//   - a disappearance is a whole presence on its own: its row is written
//     (in the flush of its event time's window) and the presence is
//     remembered as gone, so that a late appearance of it opens nothing;
//   - an appearance of an endpoint (model, endpoint, hostname) that already
//     has an open presence which began earlier ends that one where the new
//     one begins: the endpoint tracker that announced it restarted
//     without its predecessor's state (endpoints/ doc). Such a row is
//     marked superseded; the presence's own disappearance, if it comes
//     later, is written too, and queries prefer it;
//   - a second disappearance of one presence with a later end is written
//     too; queries keep the later end.
//
// The open presences are the collector's open-<id>.parquet snapshot,
// rewritten at every flush, and part of every checkpoint, as the gone
// ones are for goneRetention.

// goneRetention is how long past its end a closed presence is remembered,
// in event time: a late appearance or disappearance older than that is
// taken as new. An hour of lateness is far past --allowed-lateness.
const goneRetention = 24 * time.Hour

// endpointID is an endpoint as the lifecycle table names it.
type endpointID struct{ model, endpoint, host string }

type presenceKey struct {
	endpointID
	begin int64
}

type goneState struct {
	end        int64
	superseded bool // ended by a newer presence, not by a disappearance
}

type presences struct {
	open map[endpointID]int64 // the begin of each endpoint's open presence
	gone map[presenceKey]goneState
	// newest is the latest end or begin seen, the clock goneRetention
	// counts on.
	newest int64
}

func newPresences() *presences {
	return &presences{open: map[endpointID]int64{}, gone: map[presenceKey]goneState{}}
}

// apply takes one lifecycle event; row receives each presence row it
// ends. Strings in v may alias a reused buffer: what is kept is copied.
func (ps *presences) apply(v *wire.Lifecycle, row func(window.Presence)) {
	id := endpointID{v.ModelID, v.Endpoint, v.Hostname}
	ended := func(begin, end int64, superseded bool) {
		id := endpointID{strings.Clone(id.model), strings.Clone(id.endpoint), strings.Clone(id.host)}
		ps.gone[presenceKey{id, begin}] = goneState{end: end, superseded: superseded}
		row(window.Presence{ModelID: id.model, Endpoint: id.endpoint, Hostname: id.host, Begin: begin, End: end, Superseded: superseded})
	}
	ps.newest = max(ps.newest, v.BeginTs, v.EndTs)
	if v.EndTs == 0 { // an appearance
		if _, ok := ps.gone[presenceKey{id, v.BeginTs}]; ok {
			return // its disappearance came first
		}
		b0, open := ps.open[id]
		switch {
		case !open:
			ps.open[endpointID{strings.Clone(id.model), strings.Clone(id.endpoint), strings.Clone(id.host)}] = v.BeginTs
		case b0 == v.BeginTs:
			// The same presence announced twice.
		case b0 < v.BeginTs:
			ended(b0, v.BeginTs, true)
			ps.open[id] = v.BeginTs
		default:
			ended(v.BeginTs, b0, true) // an older presence, which the open one followed
		}
		return
	}
	// A disappearance.
	if g, ok := ps.gone[presenceKey{id, v.BeginTs}]; ok && !g.superseded && g.end >= v.EndTs {
		return // already ended, at this time or later
	}
	ended(v.BeginTs, v.EndTs, false)
	if b0, open := ps.open[id]; open {
		switch {
		case b0 == v.BeginTs:
			delete(ps.open, id)
		case b0 < v.BeginTs:
			// The open presence is older: a newer one of the endpoint
			// began, so it had ended by then.
			ended(b0, v.BeginTs, true)
			delete(ps.open, id)
		}
	}
}

// prune forgets gone presences past goneRetention.
func (ps *presences) prune() {
	horizon := ps.newest - int64(goneRetention)
	for k, g := range ps.gone {
		if g.end < horizon {
			delete(ps.gone, k)
		}
	}
}

// openRows are the open presences as lifecycle rows, in a fixed order.
func (ps *presences) openRows() []table.LifecycleRow {
	rows := make([]table.LifecycleRow, 0, len(ps.open))
	for id, begin := range ps.open {
		rows = append(rows, window.Presence{ModelID: id.model, Endpoint: id.endpoint, Hostname: id.host, Begin: begin}.Row())
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		if a.ModelID != b.ModelID {
			return a.ModelID < b.ModelID
		}
		if a.Endpoint != b.Endpoint {
			return a.Endpoint < b.Endpoint
		}
		return a.Hostname < b.Hostname
	})
	return rows
}

// The checkpoint section (docs/checkpoint-format.md): uvarint O, O x (3
// strings, varint begin); uvarint G, G x (3 strings, varint begin, varint
// end, u8 superseded); varint newest. Strings are uvarint length, bytes.

func (ps *presences) appendBinary(dst []byte) []byte {
	str := func(s string) {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ps.open)))
	for id, begin := range ps.open {
		str(id.model)
		str(id.endpoint)
		str(id.host)
		dst = binary.AppendVarint(dst, begin)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ps.gone)))
	for k, g := range ps.gone {
		str(k.model)
		str(k.endpoint)
		str(k.host)
		dst = binary.AppendVarint(dst, k.begin)
		dst = binary.AppendVarint(dst, g.end)
		if g.superseded {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	}
	return binary.AppendVarint(dst, ps.newest)
}

// readPresences reads what appendBinary wrote and returns the rest.
func readPresences(b []byte) (*presences, []byte, error) {
	ps := newPresences()
	fail := func(what string) (*presences, []byte, error) {
		return nil, nil, fmt.Errorf("presences: %s", what)
	}
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	sv := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(b)) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	id := func() (endpointID, bool) {
		m, ok1 := str()
		e, ok2 := str()
		h, ok3 := str()
		return endpointID{m, e, h}, ok1 && ok2 && ok3
	}
	n, ok := uv()
	if !ok || n > uint64(len(b)) {
		return fail("bad open count")
	}
	for ; n > 0; n-- {
		k, ok := id()
		begin, ok2 := sv()
		if !ok || !ok2 {
			return fail("truncated open presence")
		}
		ps.open[k] = begin
	}
	if n, ok = uv(); !ok || n > uint64(len(b)) {
		return fail("bad gone count")
	}
	for ; n > 0; n-- {
		k, ok := id()
		begin, ok2 := sv()
		end, ok3 := sv()
		if !ok || !ok2 || !ok3 || len(b) < 1 || b[0] > 1 {
			return fail("truncated gone presence")
		}
		ps.gone[presenceKey{k, begin}] = goneState{end: end, superseded: b[0] == 1}
		b = b[1:]
	}
	if ps.newest, ok = sv(); !ok {
		return fail("truncated")
	}
	return ps, b, nil
}
