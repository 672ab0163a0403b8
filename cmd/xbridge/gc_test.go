package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: the engine's collector target applies unless GOGC is set,
// and an operator's GOGC is left alone.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	tuneGC(func(string) (string, bool) { return "", false })
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("without GOGC the collector's target is %d, want %d", got, defaultGCPercent)
	}
	tuneGC(func(k string) (string, bool) { return "150", k == "GOGC" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set the target became %d, want it left at 100", got)
	}
}
