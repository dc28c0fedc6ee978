package query

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Condition is one equality of --where: the rows kept hold Value in the
// dimension Dim. Conditions of one query must all hold.
type Condition struct {
	Dim, Value string
}

// ParseWhere reads KEY=VALUE[,KEY=VALUE...]. Blanks around keys and values
// are ignored. A comma separates conditions only where what follows it
// looks like a key and an '=' (letters, digits and '_'), so a value may
// hold commas: url=https://h/a,b,host=h is two conditions. Whether the keys
// are dimensions of the table, and the values values they can hold, is for
// Options.Validate to say. An empty string means no condition.
func ParseWhere(s string) ([]Condition, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var conds []Condition
	for _, item := range splitConditions(s) {
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || !isKey(k) {
			return nil, fmt.Errorf("bad condition %q (want KEY=VALUE, such as status=failed)", item)
		}
		conds = append(conds, Condition{Dim: k, Value: strings.TrimSpace(v)})
	}
	return conds, nil
}

// splitConditions cuts s at every comma followed by a key and '='.
func splitConditions(s string) []string {
	var items []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			continue
		}
		rest := strings.TrimLeft(s[i+1:], " ")
		if k, _, ok := strings.Cut(rest, "="); ok && isKey(strings.TrimSpace(k)) {
			items = append(items, s[start:i])
			start = i + 1
		}
	}
	return append(items, s[start:])
}

// isKey reports whether k can be a dimension's name.
func isKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// cond is a checked condition, its value parsed for the dimension's type.
type cond struct {
	dim     string // also the Parquet column's name
	index   int    // in the table's dims
	text    string // the value of a text dimension
	num     uint64 // the value of a numeric one
	numeric bool
}

// compileWhere checks conditions against the dimensions of q, in words fit
// for a user, and parses their values: numbers for numeric dimensions,
// enumerant names for enum-valued ones.
func compileWhere(q *queryTable, conds []Condition) ([]cond, error) {
	var out []cond
	for _, c := range conds {
		i := slices.Index(q.dims, c.Dim)
		if i < 0 {
			return nil, fmt.Errorf("--where: unknown dimension %q for table %s (want one of %s)", c.Dim, q.desc.Name, strings.Join(q.dims, ", "))
		}
		if slices.ContainsFunc(out, func(o cond) bool { return o.dim == c.Dim }) {
			return nil, fmt.Errorf("--where: dimension %q is given twice (conditions must all hold)", c.Dim)
		}
		k := cond{dim: c.Dim, index: i, text: c.Value}
		if bits, ok := q.bits[c.Dim]; ok {
			n, err := strconv.ParseUint(c.Value, 10, bits)
			if err != nil {
				return nil, fmt.Errorf("--where: %s=%s: want an unsigned %d-bit integer", c.Dim, c.Value, bits)
			}
			k.num, k.numeric = n, true
		}
		if names, ok := q.enums[c.Dim]; ok && !slices.Contains(names, c.Value) {
			return nil, fmt.Errorf("--where: %s=%s: want one of %s", c.Dim, c.Value, strings.Join(names, ", "))
		}
		out = append(out, k)
	}
	return out, nil
}

// rowGroupFilter tells, from a row group's column statistics alone,
// whether it may hold a row that meets every condition. It errs towards
// reading: a column without statistics, or of another type than readout
// writes, keeps the row group.
type rowGroupFilter []cond

// keep reports whether rg of pf may hold a matching row.
func (f rowGroupFilter) keep(pf *parquet.File, rg parquet.RowGroup) bool {
	chunks := rg.ColumnChunks()
	for i := range f {
		c := &f[i]
		leaf, ok := pf.Schema().Lookup(c.dim)
		if !ok || leaf.ColumnIndex >= len(chunks) {
			continue
		}
		chunk, ok := chunks[leaf.ColumnIndex].(interface {
			Type() parquet.Type
			Bounds() (min, max parquet.Value, ok bool)
		})
		if !ok {
			continue
		}
		min, max, ok := chunk.Bounds()
		if !ok {
			continue
		}
		v, ok := c.value(chunk.Type().Kind())
		if !ok {
			continue
		}
		// Statistics are ordered by the column's own type (unsigned for
		// readout's unsigned columns), and so is Compare.
		if typ := chunk.Type(); typ.Compare(v, min) < 0 || typ.Compare(v, max) > 0 {
			return false
		}
	}
	return true
}

// value is c's value as a Parquet value of kind k, if it has one.
func (c *cond) value(k parquet.Kind) (parquet.Value, bool) {
	switch {
	case !c.numeric && k == parquet.ByteArray:
		return parquet.ByteArrayValue([]byte(c.text)), true
	case c.numeric && k == parquet.Int64:
		return parquet.Int64Value(int64(c.num)), true
	case c.numeric && k == parquet.Int32 && c.num <= math.MaxUint32:
		return parquet.Int32Value(int32(uint32(c.num))), true
	}
	return parquet.Value{}, false
}
