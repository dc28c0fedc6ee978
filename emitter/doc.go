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
//	too_large      the event would exceed wire.DefaultMaxMessageSize
//	close_timeout  still buffered when Close's context ended
//	closed         offered after Close began (these get no seq)
//
// Every drop except "closed" consumed a seq and is carried in-band in the
// next events' droppedTotal, and in the closing message, so the collector can
// prove received + dropped == last seq per emitter.
//
// # Delivery
//
// The writer owns the connection. It coalesces what is buffered into one
// write, keeps written events in a bounded replay ring (131072 by default)
// until the forwarder acknowledges them (schema.Ack on the same connection,
// cumulative durableSeq), and after a reconnect re-sends the ring before
// anything new, so the forwarder may see duplicates but loses nothing it was
// sent. While disconnected it tries to reconnect every ReconnectInterval
// (10 s by default), counting each failure. When the ring is full the
// writer holds, the buffer fills, and Emit drops with reason ring_full.
//
// # Close
//
// Close(ctx) stops accepting, writes what is buffered, waits until every
// written event is acknowledged, then writes the closing message (Event
// with the closed union member, seq = the last seq assigned, droppedTotal =
// the final in-band drop count) and waits for an Ack with closed = true.
// When ctx ends first, what is still buffered is dropped as close_timeout,
// the closing message is still attempted with a short write deadline, and
// Close returns ctx's error. No goroutine outlives Close.
//
// # Metrics
//
// When Options.Registerer is set: readout_emitter_events_emitted_total,
// _events_sent_total, _events_dropped_total{reason}, _events_replayed_total,
// _connect_errors_total, _write_errors_total, and the gauges
// _replay_ring_events, _queued_events and _acked_seq. They are read from the
// emitter's counters at scrape time; the hot path pays nothing for them.
package emitter
