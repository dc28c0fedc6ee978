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

var sinks = []sink{
	{desc: table.Inference, parts: tableParts(table.Inference, (*window.Window).Rows)},
	{desc: table.InstanceState, parts: tableParts(table.InstanceState, (*window.Window).StateRows)},
	{desc: table.Predictions, parts: tableParts(table.Predictions, (*window.Window).PredictionRows)},
	{desc: table.Downloads, parts: tableParts(table.Downloads, (*window.Window).DownloadRows)},
	{desc: table.SetupRuns, parts: tableParts(table.SetupRuns, (*window.Window).SetupRunRows)},
	{desc: table.Lifecycle, parts: tableParts(table.Lifecycle, (*window.Window).PresenceRows)},
}

// tableParts is the parts function of a table the windows fill: their rows
// of that table, by hour partition; a partition without rows has no file.
func tableParts[R any](desc *table.Desc, rowsOf func(*window.Window, time.Duration) []R) func([]*window.Window, string, time.Duration) map[string]func(string) error {
	return func(ws []*window.Window, out string, width time.Duration) map[string]func(string) error {
		rows := map[string][]R{}
		for _, w := range ws {
			if rs := rowsOf(w, width); len(rs) > 0 {
				dir := desc.PartitionDir(out, time.Unix(0, w.Start))
				rows[dir] = append(rows[dir], rs...)
			}
		}
		parts := make(map[string]func(string) error, len(rows))
		for dir, rs := range rows {
			parts[dir] = func(path string) error { return table.Write(path, rs) }
		}
		return parts
	}
}
