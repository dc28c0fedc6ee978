// Package endpoints is the endpoint tracker: it turns the successive states
// of a routing map (which endpoints serve which model) into lifecycle
// events, one when an endpoint appears and one when it goes away, so that
// the collector can build one row per endpoint presence and the query can
// say how many endpoints served a model and for how long.
//
// A server (or whatever process holds the routing map) creates one Tracker
// per process with its own hostname and the emitter as the Sink, calls
// Refresh with the whole current map (model ID to endpoint addresses) every
// time it refreshes the map, and calls Close on shutdown, before closing the
// emitter. See ExampleNew.
//
// # Events
//
// Every event is a wire.Lifecycle with EventType wire.LifecycleEndpoint,
// the Tracker's Hostname (the host observing, not the endpoint's), the
// model ID and the endpoint address. A presence is the time between an
// endpoint's appearance in one Refresh and the first later Refresh that
// does not list it:
//
//   - appearance: BeginTs = the time of the Refresh that first listed it,
//     EndTs = 0;
//   - disappearance: BeginTs = the same BeginTs as its appearance, EndTs =
//     the time of the Refresh that no longer listed it (or of Close).
//
// Times are Unix nanoseconds. All events of one Refresh carry the same
// time: the clock read once per Refresh. The Tracker's timeline is the wall
// clock at New plus the time since then on the monotonic clock, so a step
// of the wall clock neither reorders nor stretches presences; and each
// Refresh's (and Close's) time is made later than the previous one's (by
// 1 ns if the clock did not move), so within one process two presences of
// one endpoint never share a BeginTs, every presence ends after it begins,
// and an endpoint that comes back begins its new presence after its old
// one ended. Within one Refresh, disappearances are emitted before
// appearances, each sorted by model ID and endpoint. (The emitter stamps
// each event's own event time, timestampNs, when it is offered.)
//
// The same model and endpoint listed twice in one Refresh is one presence.
// A model missing from the map, or listed with no endpoints, has none: a
// model that vanishes whole ends each of its presences. An endpoint gone in
// one Refresh and back in the next (flapping) ends its presence and starts
// a new one with a new BeginTs: the events say what each Refresh saw, no
// more. Refresh does not retain the map or its slices.
//
// # Joining events into presences
//
// The collector joins an appearance and its disappearance by (model ID,
// endpoint, hostname, BeginTs). A disappearance alone is a whole presence:
// it carries both ends. An appearance alone is a presence still open. One
// Tracker owns its hostname's presences, so presences of one (model ID,
// endpoint, hostname) never overlap, which gives the rules for what the
// events alone cannot say. The collector does not build the lifecycle
// table yet (it only counts these events): whoever builds it, and the
// query reading it, must apply them.
//
//  1. An open presence ends where the next presence of the same (model ID,
//     endpoint, hostname) begins. This closes what a process that crashed
//     (or closed with KeepOpenOnClose and was not restarted with Known)
//     left open, for every endpoint the next process sees again.
//  2. An open presence with no later presence of its key stays open: it
//     counts up to the query's end (--to, or now). Nothing in the stream
//     can end it; see Restarts for the one way to avoid it.
//  3. Two disappearances with one key (possible only after a restart from
//     a stale Known, below): keep the later EndTs.
//
// # Restarts
//
// A new Tracker knows nothing of what its predecessor announced, so its
// first Refresh emits an appearance, BeginTs = now, for every endpoint it
// sees, and no disappearance at all: it cannot tell an endpoint that went
// away while no tracker was running from one it never saw, and a
// disappearance it made up would need the predecessor's BeginTs to join
// anything. An endpoint present across the restart therefore shows as two
// presences: the predecessor's, closed by its Close (the default) or, after
// a crash, left open and ended by rule 1 at the new BeginTs (so the
// downtime counts as present); and the new one. An endpoint that went away
// during the downtime of a crashed predecessor is left open by rule 2.
//
// Options.Known avoids both: a caller that persists Presences after every
// Refresh (and after Close) and passes them to the next process's New has
// that Tracker carry those presences on as its own. Its first Refresh then
// emits nothing for a known endpoint still listed (its eventual
// disappearance carries the original BeginTs and closes the original
// appearance), a disappearance, EndTs = now, for a known endpoint no longer
// listed (the downtime counts as present: when it went is unknown), and an
// appearance for each new one. A state file one Refresh stale has two
// consequences: an appearance it misses is announced again with a new
// BeginTs (the old one ends by rule 1), and a disappearance it misses is
// emitted again, or, if the endpoint is back, the closed presence is
// carried on and closed a second time later (rule 3: the gap counts as
// present).
//
// # Close
//
// By default Close emits a disappearance, EndTs = now, for everything
// present: a process that shuts down stops observing, and when the Tracker
// tracks the endpoints its own process serves, they stop serving. A
// process that observes endpoints it does not own (a routing-map reader
// restarting under a supervisor) may set KeepOpenOnClose: Close then emits
// nothing, and Presences, persisted and passed back as Known, lets the next
// process carry on without a gap. Without a next process those presences
// stay open (rule 2).
//
// # Failures
//
// The Sink never blocks, so an event can be refused (the emitter's buffer
// is full, or the forwarder has been away long enough). A refused event is
// counted in Stats and not retried: the Tracker's state moves on as if it
// had been sent, and the emitter carries the drop in-band, so the audit
// shows it. A refused appearance leaves the presence invisible until its
// disappearance, which is whole by itself. A refused disappearance leaves
// a presence without end: open by rule 2, until rule 1 ends it if the
// endpoint ever appears again on this host. An endpoint whose event cannot
// be encoded at all (a model ID or address that is not UTF-8, or too long
// for one message) is not tracked: it is counted once per presence in
// Stats.Unreportable and emits nothing.
//
// # Concurrency
//
// A Tracker's methods are safe for concurrent use; Refresh and Close are
// serialized and emit while holding the Tracker's lock, so events leave in
// order. Each Refresh is taken as the whole current state: callers that
// refresh from several goroutines must order the maps themselves, or an
// older map applied last would undo a newer one.
package endpoints
