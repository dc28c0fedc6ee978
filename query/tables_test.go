package query

import (
	"slices"
	"strings"
	"testing"

	"github.com/readout-dev/readout/table"
)

// TestEveryTableIsQueryable: a table the collector adds rows to that
// `readout query --table` cannot read is a table nobody can query.
func TestEveryTableIsQueryable(t *testing.T) {
	for _, d := range table.Tables {
		if !d.Snapshot && !slices.Contains(Tables(), d.Name) {
			t.Errorf("table %q is registered but not queryable", d.Name)
		}
	}
	for _, c := range []struct{ name, want string }{
		{"", ""}, {"inference", ""}, {"audit", "readout audit"}, {"nope", "unknown table"},
	} {
		err := (&Options{Dir: "x", Table: c.name}).Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("table %q: got %v; want an error containing %q", c.name, err, c.want)
		}
	}
}
