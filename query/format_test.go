package query

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
)

// metricKeys are the keys every query row carries (design.md's contract),
// plus error_rate.
func metricKeys() []string {
	keys := []string{"requests", "errors", "error_rate", "neurons", "input_tokens", "output_tokens", "streamed"}
	for _, d := range table.Durations {
		keys = append(keys, d+"_p50", d+"_p90", d+"_p99", d+"_mean")
	}
	return keys
}

func sampleResult() *Result {
	ts := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	return &Result{
		GroupBy:  []string{"model_id", "account_id"},
		Bucketed: true,
		Rows: []Row{
			{Time: ts, Key: Key{ModelID: "@cf/meta/llama", AccountID: 1<<63 + 5}, Requests: 10, Errors: 1, Streamed: 4,
				Neurons: 2.5, InputTokens: 100, OutputTokens: 40,
				Durations: [numDurations]Duration{{P50: 12.5, P90: 30, P99: 99.125, Mean: 15}, {}, {}, {P50: 3, P99: 7, Mean: 3.5}}},
			{Time: ts.Add(time.Hour), Key: Key{ModelID: `quote"and,comma`}, Requests: 1},
		},
	}
}

func TestWriteJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *Result
		keys []string
	}{
		{"bucketed and grouped", sampleResult(), append([]string{"time", "model_id", "account_id"}, metricKeys()...)},
		{"total", &Result{Rows: []Row{{Requests: 3}}}, metricKeys()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Write(&out, tc.res, "json"); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != len(tc.res.Rows) {
				t.Fatalf("unexpected line count; got %d; want %d", len(lines), len(tc.res.Rows))
			}
			for _, line := range lines {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal([]byte(line), &obj); err != nil {
					t.Fatalf("bad JSON line %q: %v", line, err)
				}
				var got []string
				for k := range obj {
					got = append(got, k)
				}
				want := slices.Clone(tc.keys)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("unexpected keys; got %v; want %v", got, want)
				}
				for _, k := range metricKeys() {
					if c := obj[k][0]; c != '-' && (c < '0' || c > '9') {
						t.Fatalf("key %s is not a JSON number: %s", k, obj[k])
					}
				}
			}
		})
	}
	var out bytes.Buffer
	if err := Write(&out, sampleResult(), "json"); err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(out.String(), "\n", 2)[0]
	for _, want := range []string{`"time":"2026-11-27T13:00:00Z"`, `"account_id":9223372036854775813`, `"model_id":"@cf/meta/llama"`,
		`"requests":10`, `"error_rate":0.1`, `"neurons":2.5`, `"request_time_ms_p99":99.125`, `"ttft_ms_mean":3.5`} {
		if !strings.Contains(first, want) {
			t.Fatalf("line %s lacks %s", first, want)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	var out bytes.Buffer
	res := sampleResult()
	if err := Write(&out, res, "csv"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := append([]string{"time", "model_id", "account_id"}, metricKeys()...)
	if !slices.Equal(recs[0], wantHeader) {
		t.Fatalf("unexpected header; got %v; want %v", recs[0], wantHeader)
	}
	if len(recs) != 1+len(res.Rows) {
		t.Fatalf("unexpected record count; got %d; want %d", len(recs), 1+len(res.Rows))
	}
	if recs[1][2] != "9223372036854775813" || recs[2][1] != `quote"and,comma` || recs[1][3] != "10" {
		t.Fatalf("unexpected records: %v", recs[1:])
	}
}

func TestWriteTable(t *testing.T) {
	var out bytes.Buffer
	if err := Write(&out, sampleResult(), "table"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("unexpected table:\n%s", out.String())
	}
	for _, h := range []string{"time", "model_id", "account_id", "requests", "errors", "error%", "neurons", "input_tokens", "output_tokens", "req_p50_ms", "req_p99_ms", "ttft_p50_ms", "ttft_p99_ms"} {
		if !strings.Contains(lines[0], h) {
			t.Fatalf("header lacks %s: %q", h, lines[0])
		}
	}
	// Numbers align right, so every line ends at the same column.
	for _, l := range lines[1:] {
		if len(l) != len(lines[0]) {
			t.Fatalf("misaligned table:\n%s", out.String())
		}
	}
	for _, want := range []string{"10.00%", "99.12", "9223372036854775813", "2026-11-27T14:00:00Z"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("table lacks %s:\n%s", want, out.String())
		}
	}
}

func TestWriteBadFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, sampleResult(), "xml"); err == nil {
		t.Fatal("expected an error for format xml")
	}
}
