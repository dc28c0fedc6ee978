// Package query reads the Parquet tables the collector writes under its --out
// directory and merges their additive partial rows into answers: the engine
// behind `readout query` and `readout audit`.
package query

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/table"
)

// Options selects what Run reads and how it groups it.
type Options struct {
	// Dir is the collector's --out directory (it holds one folder per table).
	Dir string
	// Table names the table to read (see Tables); "" means "inference".
	Table string
	// From (inclusive) and To (exclusive) bound window_start; a zero value
	// leaves that side open.
	From, To time.Time
	// GroupBy lists dimensions of the table (see Dimensions); empty means
	// one total, or for setup_runs the runs themselves.
	GroupBy []string
	// Where keeps the rows whose dimensions equal every condition's value.
	Where []Condition
	// Bucket truncates window_start into time buckets (UTC); 0 means a
	// single bucket over the whole range, with no time column.
	Bucket time.Duration
	// Workers is how many files are read at once; 0 means GOMAXPROCS.
	Workers int
	// Logger receives warnings; nil means none.
	Logger *zap.Logger
	// Now is the clock that open lifecycle presences are counted up to
	// when To is zero; nil means time.Now.
	Now func() time.Time
}

// Validate reports the first problem with o, in words fit for a user.
func (o *Options) Validate() error {
	if o.Dir == "" {
		return errors.New("--dir is required")
	}
	if err := checkTable(o.Table); err != nil {
		return err
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.From.Before(o.To) {
		return fmt.Errorf("--from %s is not before --to %s", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	}
	q := lookupTable(o.Table)
	for _, d := range o.GroupBy {
		if !slices.Contains(q.dims, d) {
			return fmt.Errorf("--group-by: unknown dimension %q for table %s (want some of %s)", d, q.desc.Name, strings.Join(q.dims, ", "))
		}
	}
	if _, err := compileWhere(q, o.Where); err != nil {
		return err
	}
	if o.Bucket < 0 {
		return fmt.Errorf("negative bucket %s", o.Bucket)
	}
	if q.desc == table.Lifecycle && o.Bucket > 0 {
		return errors.New("--bucket is not supported with --table lifecycle: a presence spans buckets; give --from and --to")
	}
	if q.desc == table.SetupRuns && o.Bucket > 0 && len(o.GroupBy) == 0 {
		return errors.New("--bucket with --table setup_runs needs --group-by: without it the runs themselves are listed, one per row")
	}
	return nil
}

// ParseTime reads a time bound: RFC 3339 (2026-11-27T13:00:00Z, fractions
// and offsets allowed) or a date (2026-11-27, meaning its midnight UTC).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("bad time %q (want RFC 3339 like 2026-11-27T13:00:00Z, or a date like 2026-11-27)", s)
}

// ParseGroupBy reads a comma-separated list of dimensions. Blanks around
// names are ignored and a repeated name counts once; an empty string means
// no grouping. Whether the names are dimensions of the table is for
// Options.Validate to say.
func ParseGroupBy(s string) []string {
	var dims []string
	for _, d := range strings.Split(s, ",") {
		d = strings.TrimSpace(d)
		if d != "" && !slices.Contains(dims, d) {
			dims = append(dims, d)
		}
	}
	return dims
}

// ParseBucket reads a bucket name: all, 1m, 1h or 1d.
func ParseBucket(s string) (time.Duration, error) {
	switch s {
	case "all", "":
		return 0, nil
	case "1m":
		return time.Minute, nil
	case "1h":
		return time.Hour, nil
	case "1d":
		return 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("bad bucket %q (want all, 1m, 1h or 1d)", s)
}
