// Package emitter is the client library that inference servers link to
// report one event per request to the node's readout forwarder, over a Unix
// socket, in Cap'n Proto stream framing (schema/events.capnp). See
// ExampleNew for the integration.
//
// # The request path never waits
//
// Emit, EmitAt and EmitLifecycle never block and never return an error the
// request must handle. Each call takes the next seq (1, 2, 3, ... over every
// event offered, dropped ones included) and the count of drops so far, and
// puts the event in a small buffer (64 slots by default) for the one writer
// goroutine; when the buffer is full the event is dropped, counted with a
// reason, and the call returns false. The costly parts, the UUIDv7 id and
// the encoding, are done by the writer. EmitWait is the blocking variant for
// batch and backfill callers: it waits for room instead of dropping.
//
// # Accounting
//
// Stats returns an exact snapshot: Sent + Dropped + Queued == Emitted.
// Drop reasons (the "reason" label of readout_emitter_events_dropped_total):
//
//	buffer_full    the writer fell behind
//	disconnected   the forwarder was away long enough for the buffer to fill
//	ring_full      the forwarder stopped acknowledging and the replay ring filled
//	too_large      the event would exceed Options.MaxMessageSize (default
//	               wire.DefaultMaxMessageSize, 64 KiB)
//	invalid        a nil event, or a string field that is not valid UTF-8
//	               (the forwarder refuses such Text: the collector stores
//	               these fields as Parquet strings)
//	close_timeout  still buffered when Close's context ended
//	closed         offered after Close began (these get no seq)
//
// Every drop except "closed" consumed a seq and is carried in-band in the
// next events' droppedTotal, and in the closing message, so the collector can
// prove received + dropped == last seq per emitter. Events the forwarder
// would refuse (too_large, invalid) are dropped before they take a slot: one
// such event in the replay ring would make the forwarder hang up on every
// replay and wedge the emitter.
//
// Sent counts events the writer took from the buffer into the replay ring
// and wrote, or tried to (a failed write is replayed, not dropped); when
// Close gives up with some of them never acknowledged, Stats.Unacked says
// how many, and a warning logs their count and seq range.
//
// # Delivery
//
// The writer owns the connection. It coalesces what is buffered into one
// write, keeps written events in a bounded replay ring (131072 by default)
// until the forwarder acknowledges them (schema.Ack on the same connection,
// cumulative durableSeq), and after a reconnect re-sends the ring before
// anything new, so the forwarder may see duplicates but loses nothing it was
// sent. While disconnected it tries to reconnect every ReconnectInterval
// (10 s by default), counting each failure; when the forwarder cleanly hangs
// up a connection that lived at least that long (its idle timeout, say),
// the writer dials again at once. When the ring is full the writer holds,
// the buffer fills, and Emit drops with reason ring_full. A write that
// blocks longer than WriteTimeout (default max(30 s, 3*ReconnectInterval))
// on a forwarder that stopped reading counts as a write error: the writer
// hangs up, reconnects and replays.
//
// # Close
//
// Close(ctx) stops accepting, writes what is buffered, waits until every
// written event is acknowledged, then writes the closing message (Event
// with the closed union member, seq = the last seq assigned, droppedTotal =
// the final in-band drop count) and waits for an Ack with closed = true; if
// the connection dies first, it reconnects and sends it again while ctx
// lasts. When ctx ends first, what is still buffered is dropped as
// close_timeout, the closing message is still attempted with a short write
// deadline, written but unacknowledged events are abandoned (logged, and
// counted in Stats.Unacked), and Close returns ctx's error. No goroutine
// outlives Close, and the metrics are unregistered.
//
// # Metrics
//
// When Options.Registerer is set: readout_emitter_events_emitted_total,
// _events_sent_total, _events_dropped_total{reason}, _events_replayed_total,
// _connect_errors_total, _write_errors_total, and the gauges
// _replay_ring_events, _queued_events and _acked_seq. They are read from the
// emitter's counters at scrape time; the hot path pays nothing for them.
package emitter
