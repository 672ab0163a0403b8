package store

import (
	"fmt"
	"math"
	"runtime/metrics"
	"time"
)

// runtimeWindow holds what the Go runtime saw over one measurement: the
// longest a runnable goroutine waited for a CPU and the longest
// stop-the-world pause. A routing stall near the first is the scheduler's
// (two cores, more runnable goroutines than that), near the second the
// collector's, and beyond both the store's own.
type runtimeWindow struct {
	schedMax, pauseMax time.Duration
	gcs                uint64
}

var runtimeSamples = []string{"/sched/latencies:seconds", "/sched/pauses/total/gc:seconds", "/gc/cycles/total:gc-cycles"}

// runtimeNow reads the histograms a window is the difference of.
func runtimeNow() []metrics.Sample {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	return s
}

// runtimeSince is the window from before (runtimeNow) to now.
func runtimeSince(before []metrics.Sample) runtimeWindow {
	after := runtimeNow()
	var w runtimeWindow
	if after[0].Value.Kind() == metrics.KindFloat64Histogram {
		w.schedMax = histMaxSince(before[0].Value.Float64Histogram(), after[0].Value.Float64Histogram())
	}
	if after[1].Value.Kind() == metrics.KindFloat64Histogram {
		w.pauseMax = histMaxSince(before[1].Value.Float64Histogram(), after[1].Value.Float64Histogram())
	}
	if after[2].Value.Kind() == metrics.KindUint64 {
		w.gcs = after[2].Value.Uint64() - before[2].Value.Uint64()
	}
	return w
}

// histMaxSince is the upper bound of the highest bucket that gained counts
// between two reads of one runtime histogram (the runtime's buckets are
// fine enough, a few per power of two, for a bound to the millisecond).
func histMaxSince(before, after *metrics.Float64Histogram) time.Duration {
	for i := len(after.Counts) - 1; i >= 0; i-- {
		if after.Counts[i] > before.Counts[i] {
			hi := after.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = after.Buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}

func (w runtimeWindow) String() string {
	return fmt.Sprintf("longest wait for a CPU %v, longest GC pause %v, %d GC cycles", w.schedMax, w.pauseMax, w.gcs)
}
