package query

import (
	"fmt"
	"slices"
	"strings"

	"github.com/readout-dev/readout/table"
)

// queryable are the tables Run reads, by name. Every table the collector
// adds rows to (table.Tables, snapshots aside) must be here;
// TestEveryTableIsQueryable fails otherwise.
var queryable = []*table.Desc{table.Inference}

// Tables lists the names `readout query --table` accepts.
func Tables() []string {
	names := make([]string, len(queryable))
	for i, d := range queryable {
		names[i] = d.Name
	}
	return names
}

func checkTable(name string) error {
	if name == "" || slices.Contains(Tables(), name) {
		return nil
	}
	if name == table.Audit.Name {
		return fmt.Errorf("table %q is read with `readout audit`", name)
	}
	return fmt.Errorf("unknown table %q (want one of %s)", name, strings.Join(Tables(), ", "))
}
