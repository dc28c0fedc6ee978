package lograte

import (
	"sync"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	l := Limit{Every: time.Second}
	t0 := time.Unix(100, 0)
	for i, c := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {500 * time.Millisecond, false}, {999 * time.Millisecond, false}, {time.Second, true}, {1500 * time.Millisecond, false}} {
		if got := l.Allow(t0.Add(c.at)); got != c.want {
			t.Fatalf("step %d at %v: got %v; want %v", i, c.at, got, c.want)
		}
	}
}

// Many goroutines at one instant: exactly one line gets through.
func TestLimitConcurrent(t *testing.T) {
	l := Limit{Every: time.Minute}
	now := time.Unix(100, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Allow(now) {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 1 {
		t.Fatalf("unexpected lines allowed; got %d; want 1", allowed)
	}
}

func TestKinds(t *testing.T) {
	k := Kinds{Every: 10 * time.Second}
	t0 := time.Unix(100, 0)
	if !k.Allow("a", t0) || !k.Allow("b", t0) {
		t.Fatal("first line of each kind refused")
	}
	if k.Allow("a", t0.Add(9*time.Second)) {
		t.Fatal("a second line within the interval allowed")
	}
	if !k.Allow("a", t0.Add(10*time.Second)) {
		t.Fatal("a line after the interval refused")
	}
}
