package scaling

import "testing"

func TestMeasureKeys(t *testing.T) {
	tests := []struct {
		keys, events int
	}{
		{200, 1000},
		{300, 10}, // fewer timed events than keys: every key still exists
	}
	for _, tt := range tests {
		pt := MeasureKeys(tt.keys, tt.events, 1)
		if pt.Error != "" {
			t.Fatal(pt.Error)
		}
		if pt.Keys != tt.keys || pt.Events != tt.events || pt.EventsPerSec <= 0 || pt.HeapBytesPerKey <= 0 {
			t.Fatalf("unexpected point: %+v", pt)
		}
	}
}
