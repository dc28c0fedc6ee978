package query

import (
	"reflect"
	"testing"

	"github.com/readout-dev/readout/table"
)

// The projection must name, type and tag its columns exactly as the table
// does, or a query would silently read zeros.
func TestInferenceColumnsMatchTable(t *testing.T) {
	proj := reflect.TypeFor[inferenceColumns]()
	full := reflect.TypeFor[table.InferenceRow]()
	for i := range proj.NumField() {
		p := proj.Field(i)
		f, ok := full.FieldByName(p.Name)
		if !ok {
			t.Fatalf("table.InferenceRow has no field %s", p.Name)
		}
		if p.Type != f.Type || p.Tag.Get("parquet") != f.Tag.Get("parquet") {
			t.Fatalf("field %s: got %v `%s`; want %v `%s`", p.Name, p.Type, p.Tag.Get("parquet"), f.Type, f.Tag.Get("parquet"))
		}
	}
}
