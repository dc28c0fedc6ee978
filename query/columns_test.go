package query

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/readout-dev/readout/table"
)

// checkProjection: a projection must name, type and tag its columns exactly
// as the table does, or a query would silently read zeros.
func checkProjection[P, R any](t *testing.T) {
	t.Helper()
	proj := reflect.TypeFor[P]()
	full := reflect.TypeFor[R]()
	for i := range proj.NumField() {
		p := proj.Field(i)
		f, ok := full.FieldByName(p.Name)
		if !ok {
			t.Fatalf("%v has no field %s", full, p.Name)
		}
		if p.Type != f.Type || p.Tag.Get("parquet") != f.Tag.Get("parquet") {
			t.Fatalf("%v field %s: got %v `%s`; want %v `%s`", full, p.Name, p.Type, p.Tag.Get("parquet"), f.Type, f.Tag.Get("parquet"))
		}
	}
}

func TestProjectionsMatchTables(t *testing.T) {
	checkProjection[inferenceColumns, table.InferenceRow](t)
	checkProjection[instanceStateColumns, table.InstanceStateRow](t)
	checkProjection[predictionColumns, table.PredictionRow](t)
	checkProjection[downloadColumns, table.DownloadRow](t)
	checkProjection[setupRunColumns, table.SetupRunRow](t)
}

// outputKeys are the JSON keys of each table's rows after time and the
// group-by keys (design.md, "Every reporting stream of the seed"), each
// with the Parquet columns it is computed from: renaming a column the
// query reads fails this test, and so does a key that drifts from the
// contract.
var outputKeys = map[string][]struct {
	key     string
	columns []string
}{
	table.InstanceStateDir: {
		{"reports", []string{"reports"}},
		{"instances", []string{"instances"}},
		{"active_s", []string{"active_ns"}},
		{"boot_s", []string{"boot_ns"}},
		{"idle_s", []string{"idle_ns"}},
		{"duration_s", []string{"duration_ns"}},
		{"utilization", []string{"active_ns", "duration_ns"}},
		{"mean_concurrency", []string{"concurrency_ns", "duration_ns"}},
	},
	table.PredictionsDir: {
		{"predictions", []string{"predictions"}},
		{"succeeded", []string{"succeeded"}},
		{"failed", []string{"failed"}},
		{"canceled", []string{"canceled"}},
		{"aborted", []string{"aborted"}},
		{"input_tokens", []string{"input_tokens"}},
		{"output_tokens", []string{"output_tokens"}},
		{"images", []string{"images"}},
		{"predict_time_ms_p50", []string{"predict_time_ms_sketch"}},
		{"predict_time_ms_p90", []string{"predict_time_ms_sketch"}},
		{"predict_time_ms_p99", []string{"predict_time_ms_sketch"}},
		{"predict_time_ms_mean", []string{"predict_time_ns", "started"}},
	},
	table.DownloadsDir: {
		{"downloads", []string{"downloads"}},
		{"errors", []string{"errors"}},
		{"bytes", []string{"bytes"}},
		{"bytes_per_second", []string{"bytes", "duration_us"}},
		{"duration_ms_p50", []string{"duration_ms_sketch"}},
		{"duration_ms_p90", []string{"duration_ms_sketch"}},
		{"duration_ms_p99", []string{"duration_ms_sketch"}},
		{"duration_ms_mean", []string{"duration_us", "downloads"}},
	},
	"setup_runs (grouped)": {
		{"runs", nil},
		{"duration_ms_p50", []string{"duration_ms", "started_at", "completed_at"}},
		{"duration_ms_p99", []string{"duration_ms", "started_at", "completed_at"}},
		{"scheduled_to_ready_ms_p50", []string{"scheduled_to_ready_ms", "scheduled_at", "completed_at"}},
		{"scheduled_to_ready_ms_p99", []string{"scheduled_to_ready_ms", "scheduled_at", "completed_at"}},
	},
	"setup_runs (runs)": {
		{"instance_id", []string{"instance_id"}},
		{"deployment_key", []string{"deployment_key"}},
		{"status", []string{"status"}},
		{"started_at", []string{"started_at"}},
		{"completed_at", []string{"completed_at"}},
		{"scheduled_to_started_ms", []string{"scheduled_to_started_ms"}},
		{"scheduled_to_ready_ms", []string{"scheduled_to_ready_ms"}},
		{"duration_ms", []string{"duration_ms"}},
		{"logs_bytes", []string{"logs_bytes"}},
	},
}

// TestOutputKeysFollowContract prints a row of every stream table, grouped
// by all its dimensions and bucketed, and checks its keys and their order,
// and that the columns behind them are the table's.
func TestOutputKeysFollowContract(t *testing.T) {
	for name, keys := range outputKeys {
		t.Run(name, func(t *testing.T) {
			tableName, mode, _ := strings.Cut(name, " ")
			q := lookupTable(tableName)
			res := &Result{Table: tableName, GroupBy: q.dims, Bucketed: true}
			g := Group{Time: time.Unix(0, 0), Key: make([]string, len(q.dims))}
			switch tableName {
			case table.InstanceStateDir:
				res.InstanceState = []InstanceStateRow{{Group: g}}
			case table.PredictionsDir:
				res.Predictions = []PredictionRow{{Group: g}}
			case table.DownloadsDir:
				res.Downloads = []DownloadRow{{Group: g}}
			case table.SetupRunsDir:
				res.SetupRunGroups = []SetupRunGroup{{Group: g}}
				if mode == "(runs)" {
					res.GroupBy, res.Bucketed, res.SetupRuns = nil, false, []SetupRun{{}}
				}
			}
			want := slices.Clone(res.GroupBy)
			if res.Bucketed {
				want = append([]string{"time"}, want...)
			}
			schema := q.desc.Schema
			for _, k := range keys {
				want = append(want, k.key)
				for _, c := range k.columns {
					if _, ok := schema.Lookup(c); !ok {
						t.Errorf("key %s: table %s has no column %s", k.key, tableName, c)
					}
				}
			}
			var b bytes.Buffer
			if err := Write(&b, res, "json"); err != nil {
				t.Fatal(err)
			}
			if got := jsonKeys(t, b.Bytes()); !slices.Equal(got, want) {
				t.Fatalf("unexpected keys; got %v; want %v", got, want)
			}
		})
	}
}

// jsonKeys lists the keys of a one-line JSON object in order.
func jsonKeys(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// Every dimension is a column of its table, and every dimension of a
// stream table is text (the merge keys them as strings).
func TestDimensionsAreColumns(t *testing.T) {
	for _, q := range queryable {
		for _, d := range q.dims {
			leaf, ok := q.desc.Schema.Lookup(d)
			if !ok {
				t.Fatalf("table %s: dimension %s is not a column", q.desc.Name, d)
			}
			text := leaf.Node.Type().Kind() == parquet.ByteArray
			if _, numeric := q.bits[d]; text == numeric {
				t.Fatalf("table %s: dimension %s has type %v; numeric here: %v", q.desc.Name, d, leaf.Node.Type(), numeric)
			}
		}
		if q.desc != table.Inference && len(q.dims) > maxDims {
			t.Fatalf("table %s has %d dimensions; a stream table can have %d", q.desc.Name, len(q.dims), maxDims)
		}
	}
}

// docs/parquet-schema.md names every column of every table in the table's
// section; a column that is added without a word there fails here.
func TestSchemaDocListsEveryColumn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "parquet-schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, d := range table.Tables {
		head := "## Table `" + d.Name + "`"
		i := strings.Index(doc, head)
		if i < 0 {
			t.Errorf("docs/parquet-schema.md has no section %q", head)
			continue
		}
		section := doc[i+len(head):]
		if j := strings.Index(section, "\n## "); j >= 0 {
			section = section[:j]
		}
		for _, c := range d.Schema.Columns() {
			name := c[0]
			if strings.Contains(section, "`"+name+"`") {
				continue
			}
			// The inference table writes its four durations' columns once,
			// as <d>_sum, <d>_p50 and so on.
			if slices.ContainsFunc(table.Durations, func(dur string) bool {
				suffix, ok := strings.CutPrefix(name, dur)
				return ok && strings.Contains(section, "`<d>"+suffix+"`")
			}) {
				continue
			}
			t.Errorf("docs/parquet-schema.md, table %s: column %s is not described", d.Name, name)
		}
	}
}
