package table

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Desc describes one output table: what the layers that treat every table
// alike (the collector's flusher and its crash cleanup, compaction,
// `readout query --table`) need to know of it. A new table is a row type,
// a Desc in Tables, and whatever fills it; each of those layers has a test
// that walks Tables and fails on a table it does not handle.
type Desc struct {
	// Name is the table's folder under OUT and its name in
	// `readout query --table`.
	Name string
	// Schema is the Parquet schema of its row type.
	Schema *parquet.Schema
	// Partitioned tables keep their files in Hive-style
	// date=YYYY-MM-DD/hour=HH folders by window start (UTC); others keep
	// them at the top of their folder (DuckDB refuses a glob that mixes
	// the two, hence one folder per table).
	Partitioned bool
	// Additive rows of one window and key merge into one by adding counts
	// and sums and merging sketches, so a late event or a second flush is
	// just another row; rows of other tables are kept as they are.
	Additive bool
	// Snapshot tables are rewritten whole at each checkpoint, one file per
	// collector, rather than added to by each flush.
	Snapshot bool
}

// The tables.
var (
	Inference = &Desc{Name: InferenceDir, Schema: parquet.SchemaOf(InferenceRow{}), Partitioned: true, Additive: true}
	Audit     = &Desc{Name: AuditDir, Schema: parquet.SchemaOf(AuditRow{}), Snapshot: true}

	InstanceState = &Desc{Name: InstanceStateDir, Schema: parquet.SchemaOf(InstanceStateRow{}), Partitioned: true, Additive: true}
	Predictions   = &Desc{Name: PredictionsDir, Schema: parquet.SchemaOf(PredictionRow{}), Partitioned: true, Additive: true}
	Downloads     = &Desc{Name: DownloadsDir, Schema: parquet.SchemaOf(DownloadRow{}), Partitioned: true, Additive: true}
	SetupRuns     = &Desc{Name: SetupRunsDir, Schema: parquet.SchemaOf(SetupRunRow{}), Partitioned: true}
	Lifecycle     = &Desc{Name: LifecycleDir, Schema: parquet.SchemaOf(LifecycleRow{})}
)

// Tables lists every table in a fixed order.
var Tables = []*Desc{Inference, Audit, InstanceState, Predictions, Downloads, SetupRuns, Lifecycle}

// Dir is the table's folder under out.
func (d *Desc) Dir(out string) string { return filepath.Join(out, d.Name) }

// PartitionDir is the folder for rows whose window starts at t: the
// table's Hive-style hour partition, or its folder if it has none.
func (d *Desc) PartitionDir(out string, t time.Time) string {
	if !d.Partitioned {
		return d.Dir(out)
	}
	t = t.UTC()
	return filepath.Join(d.Dir(out), "date="+t.Format("2006-01-02"), fmt.Sprintf("hour=%02d", t.Hour()))
}
