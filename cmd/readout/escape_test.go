package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/readout-dev/readout/sketch"
	"github.com/readout-dev/readout/table"
)

// Texts that would forge a row, colour the terminal or reverse what
// follows if a table printed them raw. They reach the Parquet files from
// emitters (model ids, backends) or from whoever can write under OUT.
const (
	hostileModel   = "evil\nm2  999\x1b[31m\u202egpt\u200b"
	hostileBackend = "vllm\r\x1b]0;pwned\x07"
	hostileEmitter = "e3\n\x1b[2J\u2066"
)

// hostileFixture writes OUT with one benign row and one whose text columns
// hold control characters, and an audit file with such an emitter id.
func hostileFixture(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	row := func(model, backend string, requests int64) table.InferenceRow {
		s := sketch.New()
		s.Add(10)
		return table.InferenceRow{WindowStart: ws, WindowSeconds: 60, ModelID: model, AccountID: 42, RequestSource: "worker",
			Backend: backend, Requests: requests, Neurons: 0.5, RequestTimeMsSum: 10, RequestTimeMsSketch: s.AppendBinary(nil)}
	}
	if err := table.WriteInference(filepath.Join(table.PartitionDir(out, ws), "a.parquet"),
		[]table.InferenceRow{row("m1", "tgi", 1), row(hostileModel, hostileBackend, 2)}); err != nil {
		t.Fatal(err)
	}
	if err := table.WriteAudit(filepath.Join(out, table.AuditDir, "c1.parquet"), []table.AuditRow{
		{EmitterID: "e1", FirstSeq: 1, LastSeq: 10, Received: 10, Closed: true},
		{EmitterID: hostileEmitter, FirstSeq: 1, LastSeq: 10, Received: 10, Closed: true},
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPrintable fails when s holds any byte or rune a terminal would act
// on or not show: control bytes other than the line ends, invalid UTF-8,
// and non-printable runes such as bidi controls and zero-width characters.
func checkPrintable(t *testing.T, s string) {
	t.Helper()
	for i, r := range s {
		if r == '\n' {
			continue
		}
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			t.Fatalf("raw non-printable %U at byte %d of the table:\n%s", r, i, s)
		}
	}
}

// TestTableEscapesControlCharacters: through the CLI, a model id, a backend
// and an emitter id holding a newline, ANSI escapes and bidi or zero-width
// characters print as one row each with the escapes visible, columns stay
// aligned, and CSV and JSON still carry the exact bytes.
func TestTableEscapesControlCharacters(t *testing.T) {
	out := hostileFixture(t)

	code, stdout, stderr := call("query", "--dir", out, "--group-by", "model_id,backend")
	if code != 0 || stderr != "" {
		t.Fatalf("unexpected exit %d, stderr %q", code, stderr)
	}
	checkPrintable(t, stdout)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("unexpected lines; got %d; want 3 (header and two rows):\n%s", len(lines), stdout)
	}
	wantModel := `evil\nm2  999\x1b[31m\u202egpt\u200b`
	wantBackend := `vllm\r\x1b]0;pwned\a`
	if !strings.HasPrefix(lines[1], wantModel+"  "+wantBackend+" ") { // rows sort by model id
		t.Fatalf("unexpected row; got %q; want it to start with %q", lines[1], wantModel+"  "+wantBackend)
	}
	// The last column is right-aligned, so aligned lines are equally wide
	// in runes; the escaped text is what is measured.
	for _, l := range lines[1:] {
		if got, want := utf8.RuneCountInString(l), utf8.RuneCountInString(lines[0]); got != want {
			t.Fatalf("misaligned line; got width %d; want %d:\n%s", got, want, stdout)
		}
	}

	code, stdout, stderr = call("audit", "--dir", out)
	if code != 0 || stderr != "" {
		t.Fatalf("audit: unexpected exit %d, stderr %q", code, stderr)
	}
	checkPrintable(t, stdout)
	if !strings.Contains(stdout, "\n"+`e3\n\x1b[2J\u2066`+"  ") {
		t.Fatalf("audit: escaped emitter id missing:\n%s", stdout)
	}
	if n := strings.Count(stdout, "\n"); n != 6 { // header, two rows, blank, totals, verdict
		t.Fatalf("audit: unexpected lines; got %d; want 6:\n%s", n, stdout)
	}

	// CSV and JSON are for programs: the bytes stay exact.
	code, stdout, _ = call("query", "--dir", out, "--group-by", "model_id,backend", "--format", "csv")
	if code != 0 {
		t.Fatalf("csv: unexpected exit %d", code)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(recs) != 3 || recs[1][0] != hostileModel || recs[1][1] != hostileBackend {
		t.Fatalf("csv: unexpected records %q (%v)", recs, err)
	}
	code, stdout, _ = call("query", "--dir", out, "--group-by", "model_id,backend", "--format", "json")
	if code != 0 {
		t.Fatalf("json: unexpected exit %d", code)
	}
	if rows := jsonLines(t, stdout); len(rows) != 2 || rows[0]["model_id"] != hostileModel || rows[0]["backend"] != hostileBackend {
		t.Fatalf("json: unexpected rows %q", rows)
	}
	code, stdout, _ = call("audit", "--dir", out, "--format", "json")
	if rows := jsonLines(t, stdout); code != 0 || len(rows) != 2 || rows[1]["emitter_id"] != hostileEmitter {
		t.Fatalf("audit json: unexpected exit %d, rows %q", code, rows)
	}
}

// TestErrorLineEscapesControlCharacters: a failed command's one line on
// stderr quotes the data (here a corrupt file's name under OUT), and shows
// it escaped like the table does.
func TestErrorLineEscapesControlCharacters(t *testing.T) {
	out := hostileFixture(t)
	name := "z\x1b[2J\u202e.parquet"
	if err := os.WriteFile(filepath.Join(table.PartitionDir(out, ws), name), []byte("PAR1garbagePAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := call("query", "--dir", out)
	if code != exitUsage || stdout != "" {
		t.Fatalf("unexpected exit %d, stdout %q", code, stdout)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `z\x1b[2J\u202e.parquet`) {
		t.Fatalf("unexpected stderr; got %q; want one line naming the file escaped", stderr)
	}
	checkPrintable(t, stderr)
}
