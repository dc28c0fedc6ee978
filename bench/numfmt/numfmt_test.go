package numfmt

import (
	"strings"
	"testing"
)

func TestNum(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{0.5, "0.5"},
		{12.345, "12.3"},
		{999, "999"},
		{999.4, "999"},
		{1234.6, "1,235"},
		{1234567, "1,234,567"},
		{-2500, "-2,500"},
		{0.000123, "0.000123"},
	}
	for _, tt := range tests {
		if got := Num(tt.in); got != tt.want {
			t.Errorf("Num(%v): got %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {1, "1"}, {999.5, "1,000"}, {123456, "123,456"}, {-1000, "-1,000"},
	}
	for _, tt := range tests {
		if got := Thousands(tt.in); got != tt.want {
			t.Errorf("Thousands(%v): got %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestLoadAverage(t *testing.T) {
	got := LoadAverage()
	if got == "" {
		t.Skip("no /proc/loadavg here")
	}
	if n := len(strings.Fields(got)); n != 3 {
		t.Fatalf("unexpected load average %q; want three numbers", got)
	}
}
