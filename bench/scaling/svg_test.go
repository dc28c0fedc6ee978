package scaling

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestChartIsWellFormedSVG(t *testing.T) {
	c := Chart{Title: "events/s <against> keys & more", XLabel: "keys", LogX: true, Series: []Series{
		{Name: "events/s", Unit: "events/s", X: []float64{1e3, 1e4, 1e5, 1e6}, Y: []float64{9e5, 8e5, 5e5, 2e5}},
		{Name: "bytes per key", Unit: "bytes", Right: true, X: []float64{1e3, 1e4, 1e5, 1e6}, Y: []float64{600, 550, 510, 500}},
	}}
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
	if counts["svg"] != 1 || counts["polyline"] != 2 || counts["circle"] != 8 {
		t.Fatalf("unexpected elements; got %v", counts)
	}
	for _, want := range []string{"1k", "1M", "1M</text>", "keys (log scale)", "&lt;against&gt;", "600"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("chart lacks %q:\n%s", want, b.String())
		}
	}
}

func TestChartErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Chart
	}{
		{"no points", Chart{Title: "empty"}},
		{"zero on a log axis", Chart{Title: "log", LogX: true, Series: []Series{{X: []float64{0, 1}, Y: []float64{1, 2}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.c.WriteSVG(io.Discard); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestNiceCeilAndCompact(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {7, 10}, {12, 20}, {180000, 200000}, {500, 500}} {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%v): got %v; want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   float64
		want string
	}{{0, "0"}, {12, "12"}, {0.25, "0.25"}, {1500, "1.5k"}, {200000, "200k"}, {1e6, "1M"}, {2.5e9, "2.5G"}} {
		if got := compact(tt.in); got != tt.want {
			t.Errorf("compact(%v): got %q; want %q", tt.in, got, tt.want)
		}
	}
}
