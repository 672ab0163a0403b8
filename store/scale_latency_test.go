package store

import (
	"fmt"
	"math"
	"math/bits"
	"testing"
	"time"
)

// latency is a log-linear histogram of durations for the scale harness:
// exact below 64 ns, then 32 buckets per power of two, so a quantile is
// within 1/32 (3%) of the true value. Recording costs no allocation and no
// memory that grows with the count, so the routing probe of the sweep can
// run for as long as the sweep takes; a sorted sample could not.
type latency struct {
	counts [64 * latencySub]uint64
	n      uint64
	max    time.Duration
}

const latencySub = 32

func latencyBucket(d time.Duration) int {
	ns := uint64(max(d, 0))
	if ns < 2*latencySub {
		return int(ns)
	}
	e := bits.Len64(ns) - 6 // ns>>e is in [32, 64)
	return e*latencySub + int(ns>>e)
}

// latencyUpper is the largest duration bucket i holds.
func latencyUpper(i int) time.Duration {
	if i < 2*latencySub {
		return time.Duration(i)
	}
	e := i/latencySub - 1
	m := uint64(i%latencySub + latencySub)
	return time.Duration((m+1)<<e - 1)
}

func (l *latency) record(d time.Duration) {
	d = max(d, 0)
	l.counts[latencyBucket(d)]++
	l.n++
	l.max = max(l.max, d)
}

func (l *latency) merge(o *latency) {
	for i, c := range o.counts {
		l.counts[i] += c
	}
	l.n += o.n
	l.max = max(l.max, o.max)
}

// quantile returns the upper bound of the bucket holding the q-th sample
// (never more than the largest sample), or 0 with no samples.
func (l *latency) quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(l.n))), 1)
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			return min(latencyUpper(i), l.max)
		}
	}
	return l.max
}

// String is how the human summary shows a distribution.
func (l *latency) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v p99.9=%v max=%v",
		l.n, l.quantile(0.5), l.quantile(0.99), l.quantile(0.999), l.max)
}

func TestLatencyBuckets(t *testing.T) {
	// Every duration lands in a bucket whose bounds hold it, and buckets
	// are contiguous: a gap or an overlap would bias every quantile.
	prevUpper := time.Duration(-1)
	for i := range 64 * latencySub {
		lower := prevUpper + 1
		upper := latencyUpper(i)
		if upper < lower {
			t.Fatalf("bucket %d: upper %d below lower %d", i, upper, lower)
		}
		if upper < 0 { // past int64: the last buckets are never reached
			break
		}
		for _, d := range []time.Duration{lower, upper} {
			if got := latencyBucket(d); got != i {
				t.Fatalf("latencyBucket(%d) = %d, want %d", d, got, i)
			}
		}
		if lower >= 64 && float64(upper-lower+1)/float64(lower) > 1.0/latencySub+1e-9 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its lower bound", i, lower, upper, latencySub)
		}
		prevUpper = upper
	}
}

func TestLatencyQuantile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples func(l *latency)
		q       float64
		want    time.Duration
		slack   float64 // relative
	}{
		{"empty", func(*latency) {}, 0.99, 0, 0},
		{"one", func(l *latency) { l.record(5 * time.Microsecond) }, 0.5, 5 * time.Microsecond, 0},
		{"exact below 64ns", func(l *latency) {
			for d := range time.Duration(50) {
				l.record(d)
			}
		}, 0.5, 24, 0},
		{"uniform p50", func(l *latency) {
			for d := range 100_000 {
				l.record(time.Duration(d+1) * time.Nanosecond)
			}
		}, 0.5, 50_000, 1.0 / latencySub},
		{"uniform p99", func(l *latency) {
			for d := range 100_000 {
				l.record(time.Duration(d+1) * time.Nanosecond)
			}
		}, 0.99, 99_000, 1.0 / latencySub},
		{"one stall in p99.9", func(l *latency) {
			for range 999 {
				l.record(time.Microsecond)
			}
			l.record(15 * time.Millisecond)
		}, 0.999, time.Microsecond, 1.0 / latencySub},
		{"max caps the bucket", func(l *latency) { l.record(1000) }, 1, 1000, 0},
		{"negative counts as zero", func(l *latency) { l.record(-time.Second) }, 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l latency
			tc.samples(&l)
			got := l.quantile(tc.q)
			if tc.want == 0 {
				if got != 0 {
					t.Fatalf("quantile(%v) = %v, want 0", tc.q, got)
				}
				return
			}
			if diff := math.Abs(float64(got-tc.want)) / float64(tc.want); diff > tc.slack {
				t.Fatalf("quantile(%v) = %v, want %v within %.1f%%", tc.q, got, tc.want, tc.slack*100)
			}
		})
	}
}

func TestLatencyMerge(t *testing.T) {
	var a, b latency
	a.record(time.Microsecond)
	b.record(time.Millisecond)
	b.record(2 * time.Millisecond)
	a.merge(&b)
	if a.n != 3 || a.max != 2*time.Millisecond || a.quantile(0.34) < time.Millisecond*31/32 {
		t.Fatalf("merged: %v", &a)
	}
}
