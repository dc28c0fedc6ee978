package collector

import (
	"context"
	"errors"
)

// Verdict is the ingest core's answer to a batch, whatever transport
// carried it: HTTP maps it to a status code in handler.go, another source
// (Kafka) to committing or not committing its offset.
type Verdict int

const (
	// Stored: every event of the batch is durable in the WAL (or was a
	// duplicate of one that is). Acknowledge it.
	Stored Verdict = iota
	// Busy: the collector shed the batch (its queue is full, or it is
	// stopping). Nothing was stored; offer it again later.
	Busy
	// Failed: the WAL commit failed. Nothing was stored; offer it again.
	Failed
)

func (v Verdict) String() string {
	switch v {
	case Stored:
		return "stored"
	case Busy:
		return "busy"
	}
	return "failed"
}

// Batch is one decoded, validated batch ready for Submit. Its frames alias
// the body it was decoded from, which must not change until Submit returns.
type Batch struct{ req *request }

// DecodeBatch decodes an uncompressed Batch message and validates every
// event in it, as the HTTP handler does. A malformed batch is an error
// that says what is wrong; no part of such a batch is ever stored.
func DecodeBatch(body []byte) (*Batch, error) {
	req, err := decodeBatchBody(body)
	if err != nil {
		return nil, err
	}
	return &Batch{req: req}, nil
}

// Events is the number of events and final messages in the batch.
func (b *Batch) Events() int { return len(b.req.events) }

// Errors Submit returns with Busy.
var (
	ErrStopping  = errors.New("collector is shutting down")
	ErrQueueFull = errors.New("ingest queue full")
)

// Submit hands b to the ingest loop and waits for its verdict. It is safe
// for concurrent use. ctx bounds only the wait for room in the queue,
// which Submit never does (a full queue is Busy at once); once queued, the
// batch is the loop's until it answers, which it always does, also at
// Shutdown, so Submit then waits for the verdict whatever ctx says.
func (c *Collector) Submit(ctx context.Context, b *Batch) (Verdict, error) {
	if err := ctx.Err(); err != nil {
		return Busy, err
	}
	req := b.req
	if len(req.events) == 0 {
		return Stored, nil
	}
	c.intake.mu.RLock()
	if c.intake.closed {
		c.intake.mu.RUnlock()
		return Busy, ErrStopping
	}
	select {
	case c.intake.queue <- req:
		c.intake.mu.RUnlock()
	default:
		c.intake.mu.RUnlock()
		return Busy, ErrQueueFull
	}
	v := <-req.verdict
	if v == Failed {
		return v, errors.New("batch not stored")
	}
	return v, nil
}
