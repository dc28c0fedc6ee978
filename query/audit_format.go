package query

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// AuditFormats are the output formats WriteAudit accepts.
var AuditFormats = []string{"table", "json"}

// WriteAudit prints emitters as JSON Lines ("json": keys emitter_id, sent,
// received, dropped, duplicates, unexplained, undeduped, closed, status) or as an
// aligned table ("table") followed by a totals line and a verdict line.
func WriteAudit(w io.Writer, emitters []Emitter, format string) error {
	switch format {
	case "json":
		return writeAuditJSON(w, emitters)
	case "table":
		return writeAuditTable(w, emitters)
	}
	return fmt.Errorf("bad format %q (want table or json)", format)
}

func writeAuditJSON(w io.Writer, emitters []Emitter) error {
	bw := bufio.NewWriter(w)
	var b []byte
	for _, e := range emitters {
		b = append(b[:0], `{"emitter_id":`...)
		b = appendJSONValue(b, e.EmitterID)
		b = append(b, `,"sent":`...)
		b = strconv.AppendInt(b, e.Sent, 10)
		b = append(b, `,"received":`...)
		b = strconv.AppendInt(b, e.Received, 10)
		b = append(b, `,"dropped":`...)
		b = strconv.AppendInt(b, e.Dropped, 10)
		b = append(b, `,"duplicates":`...)
		b = strconv.AppendInt(b, e.Duplicates, 10)
		b = append(b, `,"unexplained":`...)
		b = strconv.AppendInt(b, e.Unexplained, 10)
		b = append(b, `,"undeduped":`...)
		b = strconv.AppendInt(b, e.Undeduped, 10)
		b = append(b, `,"closed":`...)
		b = strconv.AppendBool(b, e.Closed)
		b = append(b, `,"status":`...)
		b = appendJSONValue(b, e.Status)
		b = append(b, "}\n"...)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeAuditTable(w io.Writer, emitters []Emitter) error {
	g := grid{
		header: []string{"emitter_id", "sent", "received", "dropped", "duplicates", "unexplained", "undeduped", "closed", "status"},
		right:  []bool{false, true, true, true, true, true, true, false, false},
	}
	for _, e := range emitters {
		g.add(e.EmitterID,
			strconv.FormatInt(e.Sent, 10),
			strconv.FormatInt(e.Received, 10),
			strconv.FormatInt(e.Dropped, 10),
			strconv.FormatInt(e.Duplicates, 10),
			strconv.FormatInt(e.Unexplained, 10),
			strconv.FormatInt(e.Undeduped, 10),
			strconv.FormatBool(e.Closed),
			e.Status)
	}
	if err := g.write(w); err != nil {
		return err
	}
	s := Summarize(emitters)
	_, err := fmt.Fprintf(w, "\n%d emitters (%d open): sent %d, received %d, dropped %d, duplicates %d, unexplained %d\n%s\n",
		s.Emitters, s.Open, s.Sent, s.Received, s.Dropped, s.Duplicates, s.Unexplained, s.Verdict())
	return err
}
