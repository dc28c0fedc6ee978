// Package batchhttp is the contract between a forwarder and a collector
// over HTTP, in one place so the two sides cannot drift: where batches go,
// how they are typed and encoded, and the limits each side holds the
// other to. The per-event limit is wire.MaxMessageSize.
package batchhttp

// Path is where forwarders POST batches.
const Path = "/v1/batches"

// ContentType is the only body type a collector accepts: one Cap'n Proto
// Batch message, unpacked, with standard stream framing.
const ContentType = "application/x-capnp"

// EncodingZstd is the one Content-Encoding a collector accepts besides
// none (and "identity").
const EncodingZstd = "zstd"

// DefaultMaxBodyBytes is a collector's default request body limit, on the
// wire and decompressed (its --max-body-bytes). A forwarder keeps its
// batches to half of it, and splits a batch a collector answers 413.
const DefaultMaxBodyBytes = 16 << 20

// RetryAfterHeader is set by a collector shedding load (503); a forwarder
// waits at least that many seconds before it retries.
const RetryAfterHeader = "Retry-After"
