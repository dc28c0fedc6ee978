package collector

import "github.com/readout-dev/readout/collector/window"

// heldWindows are the windows out of the aggregator but not yet in
// committed files: those of a failed flush and of the flush in flight. A
// replay after a crash would find them open, so the window cap counts them.
func (c *Collector) heldWindows() (unflushed, flushing []*window.Window) {
	if c.fl.flushing != nil {
		flushing = c.fl.flushing.ws
	}
	return c.fl.unflushed, flushing
}

// atWindowCap reports whether an event whose window starts at start may not
// open a window of its own (--max-windows; docs/input-policy.md). It runs
// for every inference event, so below the cap it costs one comparison; the
// exact count of distinct uncommitted windows is taken only near it.
func (c *Collector) atWindowCap(start int64) bool {
	unflushed, flushing := c.heldWindows()
	if c.agg.Windows()+len(unflushed)+len(flushing) < c.cfg.MaxWindows {
		return false
	}
	if c.agg.Get(start) != nil || holds(unflushed, start) || holds(flushing, start) {
		return false // it opens no window: another partial row of the same start
	}
	return c.uncommittedWindows() >= c.cfg.MaxWindows
}

func holds(ws []*window.Window, start int64) bool {
	for _, w := range ws {
		if w.Start == start {
			return true
		}
	}
	return false
}

// uncommittedWindows counts the distinct window starts not yet in
// committed files: open ones and held ones.
func (c *Collector) uncommittedWindows() int {
	n := c.agg.Windows()
	seen := map[int64]bool{}
	unflushed, flushing := c.heldWindows()
	for _, ws := range [][]*window.Window{unflushed, flushing} {
		for _, w := range ws {
			if c.agg.Get(w.Start) == nil && !seen[w.Start] {
				seen[w.Start] = true
				n++
			}
		}
	}
	return n
}
