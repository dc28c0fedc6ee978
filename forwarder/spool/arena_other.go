//go:build !linux

package spool

// arenaAlloc has no arena outside Linux: blocks come from the Go heap.
func arenaAlloc(int) []byte { return nil }

func inArena([]byte) bool { return false }
