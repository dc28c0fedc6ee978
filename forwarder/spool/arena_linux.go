package spool

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Block memory comes first from one anonymous mapping that the kernel backs
// with transparent huge pages. Every first touch of memory costs a page
// fault, and on the virtual machines measured a 4 KiB fault cost about
// 18 µs: the blocks a busy forwarder cycles through (batches being filled,
// the handoff, batches being shipped, some 30 MiB) cost a fifth of a CPU
// second before they were warm. A 2 MiB page is one fault for 512 of those.
// Arena memory is never unmapped: its blocks stay on the free list for good.
const arenaBytes = 64 << 20

const hugePage = 2 << 20

var arena struct {
	tried bool
	mem   []byte
	used  int
	lo    uintptr
	hi    uintptr
}

// arenaAlloc returns c bytes of arena memory, or nil when the arena is used
// up or the system gave none. Callers hold blocks.mu.
func arenaAlloc(c int) []byte {
	if !arena.tried {
		arena.tried = true
		m, err := unix.Mmap(-1, 0, arenaBytes+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return nil
		}
		skip := int(-uintptr(unsafe.Pointer(&m[0])) & (hugePage - 1))
		arena.mem = m[skip : skip+arenaBytes : skip+arenaBytes]
		// Without huge pages the arena is still ordinary memory.
		_ = unix.Madvise(arena.mem, unix.MADV_HUGEPAGE)
		arena.lo = uintptr(unsafe.Pointer(&arena.mem[0]))
		arena.hi = arena.lo + arenaBytes
	}
	if arena.mem == nil || len(arena.mem)-arena.used < c {
		return nil
	}
	b := arena.mem[arena.used : arena.used+c : arena.used+c]
	arena.used += c
	return b
}

// inArena reports whether b is arena memory. Callers hold blocks.mu.
func inArena(b []byte) bool {
	if cap(b) == 0 || arena.mem == nil {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= arena.lo && p < arena.hi
}
