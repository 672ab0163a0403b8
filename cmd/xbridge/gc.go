package main

import "runtime/debug"

// defaultGCPercent is the collector's target when GOGC is not set. Go's
// own default (100) collects each time the heap doubles, and the engine's
// live heap is small (13 MiB for the store of 1,000,000 bindings, whose
// records live in bbolt's mmap, outside the heap) while it allocates fast
// (bbolt copies every page a write touches into fresh nodes: about 58 KB
// per durable create). At 100 it collected ten times a second during a
// fill and took about a quarter of the CPU; at 400 creates went from
// 4,570 and 5,717/s to 7,079 and 6,541/s (200,000 bindings, alternating
// runs) and the longest routing stall of a mass expiry fell from 10.4 to
// 8.1 ms (docs/PERFORMANCE.md). The heap then grows to about five times
// the live heap before a collection, tens of MiB here.
const defaultGCPercent = 400

// tuneGC sets the collector's target unless the operator chose one with
// GOGC (GOMEMLIMIT, when set, applies as well).
func tuneGC(env environ) {
	if _, set := env("GOGC"); set {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
}
