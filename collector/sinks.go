package collector

import (
	"time"

	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/table"
)

// A sink fills one output table from the windows a flush takes: for each
// partition folder, a function that writes that folder's rows to a path.
// Every table in table.Tables that flushes add to has one, and the flusher
// writes them all in one flush under one flush seq, so crash recovery
// (which walks table.Tables) treats them alike; TestEveryTableHasASink
// fails for a registered table without one. The audit snapshot is not a
// sink: it is rewritten whole at each checkpoint.
type sink struct {
	desc  *table.Desc
	parts func(ws []*window.Window, out string, width time.Duration) map[string]func(path string) error
}

var sinks = []sink{{desc: table.Inference, parts: inferenceParts}}

// inferenceParts groups the windows' rows by hour partition.
func inferenceParts(ws []*window.Window, out string, width time.Duration) map[string]func(string) error {
	rows := map[string][]table.InferenceRow{}
	for _, w := range ws {
		dir := table.Inference.PartitionDir(out, time.Unix(0, w.Start))
		rows[dir] = append(rows[dir], w.Rows(width)...)
	}
	parts := make(map[string]func(string) error, len(rows))
	for dir, rs := range rows {
		parts[dir] = func(path string) error { return table.WriteInference(path, rs) }
	}
	return parts
}
