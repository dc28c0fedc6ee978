package query

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// lifecycleColumns is what a query reads of table.LifecycleRow (all of it);
// its tags must match the table's (TestProjectionsMatchTables).
type lifecycleColumns struct {
	ModelID    string     `parquet:"model_id,dict"`
	Endpoint   string     `parquet:"endpoint"`
	Hostname   string     `parquet:"hostname,dict"`
	Begin      time.Time  `parquet:"begin,timestamp(nanosecond)"`
	End        *time.Time `parquet:"end,optional,timestamp(nanosecond)"`
	Superseded bool       `parquet:"superseded"`
}

// Presence is one endpoint presence: End is zero while it lasts.
type Presence struct {
	ModelID, Endpoint, Hostname string
	Begin, End                  time.Time
}

// PresenceGroup sums the presences of one group over [from, to).
type PresenceGroup struct {
	Group
	Endpoints int64   // distinct endpoints with a presence overlapping the range
	Seconds   float64 // presence inside the range; open ones up to --to, or now
}

// presenceKey names a presence: its endpoint and its beginning.
type presenceKey struct {
	model, endpoint, host string
	begin                 int64
}

// presenceRows collects the rows of the lifecycle files. A presence may
// have several (table.LifecycleRow says why); the one that stands is, in
// order: a row with an end that is not superseded, the latest such end;
// else a superseded one, the earliest end (the first successor's begin);
// else the open row.
type presenceRows struct {
	rows map[presenceKey]lifecycleColumns
}

func (p *presenceRows) add(_ string, rows []lifecycleColumns) error {
	for _, r := range rows {
		p.keep(presenceKey{r.ModelID, r.Endpoint, r.Hostname, r.Begin.UnixNano()}, r)
	}
	return nil
}

// keep makes r the presence's row if it stands over the one held.
func (p *presenceRows) keep(k presenceKey, r lifecycleColumns) {
	if old, ok := p.rows[k]; !ok || standsOver(r, old) {
		p.rows[k] = r
	}
}

// standsOver reports whether row a is the presence rather than row b.
func standsOver(a, b lifecycleColumns) bool {
	rank := func(r lifecycleColumns) int {
		switch {
		case r.End == nil:
			return 0
		case r.Superseded:
			return 1
		}
		return 2
	}
	ra, rb := rank(a), rank(b)
	switch {
	case ra != rb:
		return ra > rb
	case ra == 2:
		return a.End.After(*b.End)
	case ra == 1:
		return a.End.Before(*b.End)
	}
	return false
}

// runLifecycle resolves the presences in the files and answers with them,
// or with their sums per group.
func runLifecycle(r *request) (*Result, error) {
	all, skipped, err := readFiles(r.files, r.Workers, rowGroupFilter(r.where), func() *presenceRows {
		return &presenceRows{rows: map[presenceKey]lifecycleColumns{}}
	})
	if err != nil {
		return nil, err
	}
	merged := all[0]
	for _, o := range all[1:] {
		for k, row := range o.rows {
			merged.keep(k, row)
		}
	}
	now := r.now()
	to := r.To
	if to.IsZero() {
		to = now
	}
	var ps []Presence
	for _, row := range merged.rows {
		p := Presence{ModelID: row.ModelID, Endpoint: row.Endpoint, Hostname: row.Hostname, Begin: row.Begin.UTC()}
		if row.End != nil {
			p.End = row.End.UTC()
		}
		d := dimValues{p.ModelID, p.Endpoint, p.Hostname}
		if !matches(&d, r.where) || !overlapsRange(p, r.From, r.To) {
			continue
		}
		ps = append(ps, p)
	}
	slices.SortFunc(ps, comparePresences)
	res := &Result{RowsRead: int64(len(merged.rows)), RowGroupsSkipped: skipped}
	if len(r.GroupBy) == 0 {
		res.Presences = ps
		return res, nil
	}
	res.PresenceGroups = groupPresences(ps, r.table.dims, r.GroupBy, r.From, to)
	return res, nil
}

// now is the request's clock: open presences are counted up to it when
// --to is not given.
func (r *request) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// overlapsRange reports whether p overlaps [from, to) (zero bounds are
// open); an open presence lasts for ever.
func overlapsRange(p Presence, from, to time.Time) bool {
	if !to.IsZero() && !p.Begin.Before(to) {
		return false
	}
	return from.IsZero() || p.End.IsZero() || p.End.After(from)
}

// groupPresences sums presences per group: distinct endpoints, and the
// seconds of presence inside [from, to), open presences up to to.
func groupPresences(ps []Presence, dims, groupBy []string, from, to time.Time) []PresenceGroup {
	order := make([]int, len(groupBy))
	for i, d := range groupBy {
		order[i] = slices.Index(dims, d)
	}
	type acc struct {
		endpoints map[string]struct{}
		ns        int64
	}
	groups := map[string]*acc{}
	keys := map[string][]string{}
	for _, p := range ps {
		d := [...]string{p.ModelID, p.Endpoint, p.Hostname}
		key := make([]string, len(order))
		for i, j := range order {
			key[i] = d[j]
		}
		id := strings.Join(key, "\x00")
		g := groups[id]
		if g == nil {
			g = &acc{endpoints: map[string]struct{}{}}
			groups[id], keys[id] = g, key
		}
		g.endpoints[p.Endpoint] = struct{}{}
		begin, end := p.Begin, p.End
		if end.IsZero() || end.After(to) {
			end = to
		}
		if !from.IsZero() && begin.Before(from) {
			begin = from
		}
		if end.After(begin) {
			g.ns += int64(end.Sub(begin))
		}
	}
	out := make([]PresenceGroup, 0, len(groups))
	for id, g := range groups {
		out = append(out, PresenceGroup{Group: Group{Key: keys[id]}, Endpoints: int64(len(g.endpoints)), Seconds: float64(g.ns) / 1e9})
	}
	slices.SortFunc(out, func(a, b PresenceGroup) int { return slices.Compare(a.Key, b.Key) })
	return out
}

func comparePresences(a, b Presence) int {
	return cmp.Or(a.Begin.Compare(b.Begin), strings.Compare(a.ModelID, b.ModelID),
		strings.Compare(a.Endpoint, b.Endpoint), strings.Compare(a.Hostname, b.Hostname))
}

// presenceOutput lists the fields of a presence: design.md's keys; end is
// "" while the endpoint is present.
func presenceOutput() []column[Presence] {
	type R = Presence
	return []column[R]{
		{"model_id", func(r *R) any { return r.ModelID }},
		{"endpoint", func(r *R) any { return r.Endpoint }},
		{"hostname", func(r *R) any { return r.Hostname }},
		{"begin", func(r *R) any { return r.Begin.Format(time.RFC3339Nano) }},
		{"end", func(r *R) any {
			if r.End.IsZero() {
				return ""
			}
			return r.End.Format(time.RFC3339Nano)
		}},
	}
}

// presenceGroupOutput lists the fields of a group of presences.
func presenceGroupOutput(res *Result) []column[PresenceGroup] {
	type R = PresenceGroup
	return append(groupColumns(res, func(r *R) *Group { return &r.Group }),
		column[R]{"endpoints", func(r *R) any { return r.Endpoints }},
		column[R]{"endpoint_s", func(r *R) any { return r.Seconds }},
	)
}
