// Package schema holds readout's Cap'n Proto schema (events.capnp) and the Go
// code generated from it. Regenerate with `make generate`; CI runs
// `make check-generated` and fails when the committed code is stale.
package schema

//go:generate sh -c "capnp compile -I$(go list -m -f '{{.Dir}}' capnproto.org/go/capnp/v3)/std -ogo events.capnp"
