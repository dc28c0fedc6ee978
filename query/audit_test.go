package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
)

func writeAudit(t *testing.T, out, name string, rows []table.AuditRow) {
	t.Helper()
	if err := table.WriteAudit(filepath.Join(out, table.AuditDir, name), rows); err != nil {
		t.Fatal(err)
	}
}

func TestAuditMergesCollectors(t *testing.T) {
	seen := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		a, b    []table.AuditRow
		want    []Emitter
		verdict string
	}{{
		name: "split across two collectors",
		a: []table.AuditRow{
			{EmitterID: "e1", FirstSeq: 1, LastSeq: 60, Received: 55, Dropped: 2, Duplicates: 3, LastSeen: seen},
			{EmitterID: "e2", FirstSeq: 1, LastSeq: 10, Received: 10, Closed: true},
		},
		b: []table.AuditRow{
			{EmitterID: "e1", FirstSeq: 56, LastSeq: 100, Received: 43, Dropped: 5, Duplicates: 1, Closed: true},
		},
		want: []Emitter{
			{EmitterID: "e1", Sent: 100, Received: 98, Dropped: 5, Duplicates: 4, Unexplained: -3, Closed: true, Status: StatusGaps},
			{EmitterID: "e2", Sent: 10, Received: 10, Closed: true, Status: StatusComplete},
		},
		verdict: "GAPS: 3 more seqs received or dropped than sent in 1 of 2 emitters",
	}, {
		name: "complete and open",
		a:    []table.AuditRow{{EmitterID: "e1", FirstSeq: 1, LastSeq: 50, Received: 45, Dropped: 0, Closed: false}},
		b:    []table.AuditRow{{EmitterID: "e1", FirstSeq: 46, LastSeq: 70, Received: 20, Dropped: 5, Closed: true}, {EmitterID: "e3", LastSeq: 4, Received: 4}},
		want: []Emitter{
			{EmitterID: "e1", Sent: 70, Received: 65, Dropped: 5, Closed: true, Status: StatusComplete},
			{EmitterID: "e3", Sent: 4, Received: 4, Status: StatusOpen},
		},
		verdict: "OK: every seq is accounted for (1 of 2 emitters still open: their tail is not final)",
	}, {
		name: "missing events",
		a:    []table.AuditRow{{EmitterID: "e1", LastSeq: 50, Received: 40, Dropped: 3, Closed: true}},
		b:    []table.AuditRow{{EmitterID: "e2", LastSeq: 5, Received: 5, Closed: true}},
		want: []Emitter{
			{EmitterID: "e1", Sent: 50, Received: 40, Dropped: 3, Unexplained: 7, Closed: true, Status: StatusGaps},
			{EmitterID: "e2", Sent: 5, Received: 5, Closed: true, Status: StatusComplete},
		},
		verdict: "GAPS: 7 events unexplained in 1 of 2 emitters",
	}, {
		name: "caps reached",
		a: []table.AuditRow{
			{EmitterID: "e1", LastSeq: 50, Received: 50, Undeduped: 4, Closed: true},
			{EmitterID: "untracked", LastSeq: 7, Received: 7, Undeduped: 7, Untracked: true},
		},
		b: []table.AuditRow{{EmitterID: "untracked", LastSeq: 3, Received: 3, Undeduped: 3, Duplicates: 1, Untracked: true}},
		want: []Emitter{
			{EmitterID: "e1", Sent: 50, Received: 50, Undeduped: 4, Closed: true, Status: StatusComplete},
			{EmitterID: "untracked", Sent: 10, Received: 10, Duplicates: 1, Undeduped: 10, Status: StatusUntracked},
		},
		verdict: "OK: every seq is accounted for; 14 events were counted without a dedupe check (a collector cap was reached): a re-delivery among them would be counted twice",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			writeAudit(t, out, "collector-a.parquet", tc.a)
			writeAudit(t, out, "collector-b.parquet", tc.b)
			// A leftover temporary file of an atomic write is not read.
			if err := os.WriteFile(filepath.Join(out, table.AuditDir, ".tmp-1.parquet"), []byte("junk"), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Audit(out)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("unexpected audit;\ngot  %+v\nwant %+v", got, tc.want)
			}
			if v := Summarize(got).Verdict(); v != tc.verdict {
				t.Fatalf("unexpected verdict; got %q; want %q", v, tc.verdict)
			}
			var tbl bytes.Buffer
			if err := WriteAudit(&tbl, got, "table"); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(tbl.String(), "\n"), "\n")
			if lines[len(lines)-1] != tc.verdict || !strings.HasPrefix(lines[len(lines)-2], "2 emitters") {
				t.Fatalf("table does not end with totals and verdict:\n%s", tbl.String())
			}
		})
	}
}

func TestAuditJSON(t *testing.T) {
	var out bytes.Buffer
	es := []Emitter{{EmitterID: "0190a0a0-0000-7000-8000-000000000001", Sent: 9, Received: 7, Dropped: 1, Unexplained: 1, Status: StatusGaps}}
	if err := WriteAudit(&out, es, "json"); err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(out.Bytes(), &obj); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"closed", "dropped", "duplicates", "emitter_id", "received", "sent", "status", "undeduped", "unexplained"}
	if !slices.Equal(keys, want) {
		t.Fatalf("unexpected keys; got %v; want %v", keys, want)
	}
	if obj["sent"] != 9.0 || obj["unexplained"] != 1.0 || obj["closed"] != false || obj["status"] != "gaps" {
		t.Fatalf("unexpected values: %v", obj)
	}
}

func TestAuditErrors(t *testing.T) {
	empty := t.TempDir()
	corrupt := t.TempDir()
	writeAudit(t, corrupt, "a.parquet", []table.AuditRow{{EmitterID: "e"}})
	bad := filepath.Join(corrupt, table.AuditDir, "b.parquet")
	if err := os.WriteFile(bad, []byte("PAR1 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"missing", filepath.Join(empty, "nope"), "does not exist"},
		{"no audit files", empty, "no audit files"},
		{"corrupt", corrupt, bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Audit(tc.dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("unexpected error; got %v; want one line containing %q", err, tc.want)
			}
		})
	}
	if _, err := Audit(empty); !errors.Is(err, ErrNoData) {
		t.Fatalf("unexpected error kind; got %v; want ErrNoData", err)
	}
}
