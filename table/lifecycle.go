package table

import (
	"path/filepath"
	"time"
)

// LifecycleDir is the lifecycle table's folder under OUT.
const LifecycleDir = "lifecycle"

// LifecycleRow is one presence of an endpoint: from its appearance (begin)
// to its disappearance (end), or still present (end null). The folder is
// not partitioned: presences are few (an endpoint coming or going, not a
// request), and one spans any number of hours.
//
// A presence is written once, when the collector learns its end, in a file
// of a flush like any other; the presences still open are each
// collector's snapshot file, open-<collector>.parquet, rewritten at every
// flush. Between a presence's end reaching the collector and the next
// flush, and after a collector gives up a presence it holds open, a
// presence may be in both: the row with an end is the presence. A presence
// may also have more than one row with an end (see Superseded, and a
// second disappearance with a later end): the row not superseded with the
// latest end is the presence. `readout query` applies these rules; SQL for
// them is in docs/parquet-schema.md.
type LifecycleRow struct {
	ModelID  string     `parquet:"model_id,dict"`
	Endpoint string     `parquet:"endpoint"`
	Hostname string     `parquet:"hostname,dict"`
	Begin    time.Time  `parquet:"begin,timestamp(nanosecond)"`
	End      *time.Time `parquet:"end,optional,timestamp(nanosecond)"`
	// Superseded: the collector ended the presence where a newer one of
	// the same endpoint began, having seen no disappearance (its tracker
	// restarted). A row of the same presence that is not superseded, if
	// any, is the presence.
	Superseded bool `parquet:"superseded"`
}

// OpenPresencesPath is the snapshot file of the presences a collector
// holds open.
func OpenPresencesPath(out, collectorID8 string) string {
	return filepath.Join(out, LifecycleDir, "open-"+collectorID8+".parquet")
}
