package window

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/readout-dev/readout/wire"
)

// The stream tables' part of a window snapshot (layout in snapshot.go).
// ids maps every interned string of the window to its index in the
// snapshot's string table; instance ids and logs are not interned and are
// written inline.

func appendStreams(dst []byte, st *streams, ids map[string]uint64) []byte {
	if st == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	str := func(s string) { dst = binary.AppendUvarint(dst, ids[s]) }
	inline := func(s string) {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	vars := func(vs ...int64) {
		for _, v := range vs {
			dst = binary.AppendVarint(dst, v)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.state)))
	for k, g := range st.state {
		str(k.DeploymentKey)
		str(k.Hardware)
		str(k.ComputeUnit)
		str(k.Version)
		vars(g.reports, g.active, g.boot, g.idle, g.duration, g.concurrency)
		dst = binary.AppendUvarint(dst, uint64(len(g.instances)))
		for id := range g.instances {
			inline(id)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.predictions)))
	for k, g := range st.predictions {
		str(k.DeploymentKey)
		str(k.Version)
		str(k.ErrorCode)
		dst = binary.AppendUvarint(dst, uint64(k.Status))
		vars(g.predictions, g.succeeded, g.failed, g.canceled, g.aborted,
			g.inputTokens, g.outputTokens, g.images, g.started, g.predictNs)
		dst = g.bins.appendSnapshot(dst)
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.downloads)))
	for k, g := range st.downloads {
		str(k.Host)
		str(k.URL)
		vars(g.downloads, g.errors, g.bytes, g.durationUs)
		dst = g.bins.appendSnapshot(dst)
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.setupRuns)))
	for _, s := range st.setupRuns {
		str(s.deploymentKey)
		inline(s.instanceID)
		inline(s.logs)
		dst = binary.AppendUvarint(dst, uint64(s.status))
		vars(s.scheduled, s.started, s.completed)
		dst = binary.AppendUvarint(dst, s.logsDropped)
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.presences)))
	for _, p := range st.presences {
		str(p.ModelID)
		str(p.Endpoint)
		str(p.Hostname)
		vars(p.Begin, p.End)
		if p.Superseded {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	}
	return dst
}

// readStreams reads what appendStreams wrote; str reads a string index.
// Errors are left in r.
func readStreams(r *snapReader, str func() string) *streams {
	if len(r.b) < 1 {
		r.fail("truncated streams")
		return nil
	}
	has := r.b[0]
	r.b = r.b[1:]
	switch has {
	case 0:
		return nil
	case 1:
	default:
		r.fail("bad streams flag")
		return nil
	}
	st := newStreams()
	inline := func() string {
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.fail("string length exceeds the bytes left")
			return ""
		}
		s := strings.Clone(string(r.b[:n]))
		r.b = r.b[n:]
		return s
	}
	status := func(max uint64) uint16 {
		v := r.uvarint()
		if v > max {
			r.fail("status out of range")
		}
		return uint16(v)
	}
	for n := r.count(11, "instance_state group"); n > 0 && r.err == nil; n-- {
		k := StateKey{str(), str(), str(), str()}
		g := &stateGroup{instances: map[string]struct{}{}}
		for _, p := range [...]*int64{&g.reports, &g.active, &g.boot, &g.idle, &g.duration, &g.concurrency} {
			*p = r.varint()
		}
		for m := r.count(1, "instance id"); m > 0 && r.err == nil; m-- {
			g.instances[inline()] = struct{}{}
		}
		if _, dup := st.state[k]; dup && r.err == nil {
			r.fail("duplicate instance_state key")
		}
		st.state[k] = g
	}
	for n := r.count(16, "predictions group"); n > 0 && r.err == nil; n-- {
		k := PredictionKey{DeploymentKey: str(), Version: str(), ErrorCode: str()}
		k.Status = wire.PredictionStatus(status(math.MaxUint16))
		g := &predictionGroup{}
		for _, p := range [...]*int64{&g.predictions, &g.succeeded, &g.failed, &g.canceled, &g.aborted,
			&g.inputTokens, &g.outputTokens, &g.images, &g.started, &g.predictNs} {
			*p = r.varint()
		}
		g.bins.readSnapshot(r)
		if _, dup := st.predictions[k]; dup && r.err == nil {
			r.fail("duplicate predictions key")
		}
		st.predictions[k] = g
	}
	for n := r.count(8, "downloads group"); n > 0 && r.err == nil; n-- {
		k := DownloadKey{str(), str()}
		g := &downloadGroup{}
		for _, p := range [...]*int64{&g.downloads, &g.errors, &g.bytes, &g.durationUs} {
			*p = r.varint()
		}
		g.bins.readSnapshot(r)
		if _, dup := st.downloads[k]; dup && r.err == nil {
			r.fail("duplicate downloads key")
		}
		st.downloads[k] = g
	}
	for n := r.count(8, "setup run"); n > 0 && r.err == nil; n-- {
		s := setupRun{deploymentKey: str(), instanceID: inline(), logs: inline()}
		s.status = wire.SetupStatus(status(math.MaxUint16))
		s.scheduled, s.started, s.completed = r.varint(), r.varint(), r.varint()
		s.logsDropped = r.uvarint()
		st.setupRuns = append(st.setupRuns, s)
	}
	for n := r.count(6, "presence"); n > 0 && r.err == nil; n-- {
		p := Presence{ModelID: str(), Endpoint: str(), Hostname: str()}
		p.Begin, p.End = r.varint(), r.varint()
		if len(r.b) < 1 || r.b[0] > 1 {
			r.fail("bad superseded flag")
			break
		}
		p.Superseded = r.b[0] == 1
		r.b = r.b[1:]
		st.presences = append(st.presences, p)
	}
	return st
}
