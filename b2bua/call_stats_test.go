package b2bua

import (
	"reflect"
	"testing"
	"time"
)

func TestHistogramSnapshot(t *testing.T) {
	h := newHistogram(0.01, 0.1, 1)
	for _, d := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond, 2 * time.Second} {
		h.observe(d)
	}
	got := h.snapshot()
	// Cumulative: two at or below 10 ms, three at or below 100 ms, the
	// 2 s one only in the count (Prometheus's +Inf).
	if want := []uint64{2, 3, 3}; !reflect.DeepEqual(got.Counts, want) || got.Count != 4 {
		t.Errorf("counts %v of %d, want %v of 4", got.Counts, got.Count, want)
	}
	if got.Sum < 2.064 || got.Sum > 2.066 {
		t.Errorf("sum %v, want 2.065", got.Sum)
	}
}
