package query

import (
	"fmt"
	"slices"
	"strings"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// queryTable is what Run knows of one table it reads.
type queryTable struct {
	desc *table.Desc
	// dims are the table's group-by and --where dimensions in canonical
	// order; each is a column of the table.
	dims []string
	// enums lists, for an enum-valued dimension, the values it can hold:
	// the schema's enumerant names.
	enums map[string][]string
	// bits is, for a numeric dimension, the width of its unsigned values.
	bits map[string]int
	// run reads the request's files into a result.
	run func(r *request) (*Result, error)
}

// queryable are the tables Run reads, by name. Every table the collector
// adds rows to (table.Tables, snapshots aside) must be here;
// TestEveryTableIsQueryable fails otherwise.
var queryable = []*queryTable{
	{
		desc:  table.Inference,
		dims:  table.Dimensions,
		enums: map[string][]string{"request_source": enumNames(wire.SourceUnknown, wire.SourceRESTAPI)},
		bits:  map[string]int{"account_id": 64, "colo_id": 32, "error_code": 32},
		run:   runInference,
	},
	{
		desc: table.InstanceState,
		dims: []string{"deployment_key", "hardware", "compute_unit", "version"},
		run:  runInstanceState,
	},
	{
		desc:  table.Predictions,
		dims:  []string{"deployment_key", "version", "status", "error_code"},
		enums: map[string][]string{"status": enumNames(wire.PredictionProcessing, wire.PredictionAborted)},
		run:   runPredictions,
	},
	{
		desc: table.Downloads,
		dims: []string{"host", "url"},
		run:  runDownloads,
	},
	{
		desc:  table.SetupRuns,
		dims:  []string{"deployment_key", "status"},
		enums: map[string][]string{"status": enumNames(wire.SetupUnknown, wire.SetupTimeout)},
		run:   runSetupRuns,
	},
	{
		desc: table.Lifecycle,
		dims: []string{"model_id", "endpoint", "hostname"},
		run:  runLifecycle,
	},
}

// enumNames lists the enumerant names of an enum from first to last.
func enumNames[E interface {
	~uint16
	String() string
}](first, last E) []string {
	var names []string
	for e := first; e <= last; e++ {
		names = append(names, e.String())
	}
	return names
}

// Tables lists the names `readout query --table` accepts.
func Tables() []string {
	names := make([]string, len(queryable))
	for i, q := range queryable {
		names[i] = q.desc.Name
	}
	return names
}

// Dimensions lists the dimensions of a table that --group-by and --where
// accept, in canonical order; nil for a table Run does not read.
func Dimensions(tableName string) []string {
	if q := lookupTable(tableName); q != nil {
		return slices.Clone(q.dims)
	}
	return nil
}

func lookupTable(name string) *queryTable {
	if name == "" {
		name = table.Inference.Name
	}
	for _, q := range queryable {
		if q.desc.Name == name {
			return q
		}
	}
	return nil
}

func checkTable(name string) error {
	if lookupTable(name) != nil {
		return nil
	}
	if name == table.Audit.Name {
		return fmt.Errorf("table %q is read with `readout audit`", name)
	}
	return fmt.Errorf("unknown table %q (want one of %s)", name, strings.Join(Tables(), ", "))
}
