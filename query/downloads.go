package query

import (
	"time"

	"github.com/readout-dev/readout/sketch"
)

// downloadColumns is the part of table.DownloadRow a query reads. Its tags
// must match the table's; TestProjectionsMatchTables checks.
type downloadColumns struct {
	WindowStart time.Time `parquet:"window_start,timestamp(millisecond)"`

	Host string `parquet:"host,dict"`
	URL  string `parquet:"url,dict"`

	Downloads        int64  `parquet:"downloads"`
	Errors           int64  `parquet:"errors"`
	Bytes            int64  `parquet:"bytes"`
	DurationUs       int64  `parquet:"duration_us"`
	DurationMsSketch []byte `parquet:"duration_ms_sketch"`
}

// DownloadRow is one group of downloads.
type DownloadRow struct {
	Group
	Downloads, Errors, Bytes int64
	// BytesPerSecond is bytes / summed duration: the group's throughput,
	// never an average of the downloads' rates; 0 without duration.
	BytesPerSecond float64
	// DurationMs: quantiles from the merged sketches, the mean exact
	// (duration_us / downloads).
	DurationMs Duration
}

type downloadSums struct {
	downloads, errors, bytes int64
	duration                 wideSum // µs
	sketch                   *sketch.Sketch
}

var downloadTable = streamTable[downloadColumns, downloadSums]{
	window: func(r *downloadColumns) time.Time { return r.WindowStart },
	dims:   func(r *downloadColumns) dimValues { return dimValues{r.Host, r.URL} },
	add: func(g *downloadSums, r *downloadColumns) error {
		g.downloads += r.Downloads
		g.errors += r.Errors
		g.bytes += r.Bytes
		g.duration.add(r.DurationUs)
		return mergeSketchBinary(&g.sketch, r.DurationMsSketch, "duration_ms_sketch")
	},
	merge: func(g, o *downloadSums) error {
		g.downloads += o.downloads
		g.errors += o.errors
		g.bytes += o.bytes
		g.duration.addSum(o.duration)
		return mergeSketch(&g.sketch, o.sketch, "duration_ms")
	},
}

func runDownloads(r *request) (*Result, error) {
	groups, rows, skipped, err := mergeStream(&downloadTable, r)
	if err != nil {
		return nil, err
	}
	res := &Result{Downloads: make([]DownloadRow, len(groups)), RowsRead: rows, RowGroupsSkipped: skipped}
	for i, g := range groups {
		s := g.sums
		us := s.duration.float()
		res.Downloads[i] = DownloadRow{
			Group:          g.Group,
			Downloads:      s.downloads,
			Errors:         s.errors,
			Bytes:          s.bytes,
			BytesPerSecond: ratio(float64(s.bytes), us/1e6),
			DurationMs:     sketchDuration(s.sketch, ratio(us, float64(s.downloads))/1e3),
		}
	}
	return res, nil
}

// downloadOutput lists the fields of the answer: design.md's keys.
func downloadOutput(res *Result) []column[DownloadRow] {
	type R = DownloadRow
	cols := append(groupColumns(res, func(r *R) *Group { return &r.Group }),
		column[R]{"downloads", func(r *R) any { return r.Downloads }},
		column[R]{"errors", func(r *R) any { return r.Errors }},
		column[R]{"bytes", func(r *R) any { return r.Bytes }},
		column[R]{"bytes_per_second", func(r *R) any { return r.BytesPerSecond }},
	)
	return append(cols, durationColumns("duration_ms", func(r *R) *Duration { return &r.DurationMs })...)
}
