package b2bua

import (
	"sync"
	"time"
)

// Histogram is a latency distribution the engine keeps for metrics without
// depending on a metrics library: cumulative counts per upper bound (in
// seconds), their total and their sum, as Prometheus histograms carry
// them.
type Histogram struct {
	Bounds []float64
	// Counts[i] is the observations at or below Bounds[i].
	Counts []uint64
	Count  uint64
	Sum    float64
}

// histogram is a Histogram being filled; a lock per observation is cheap
// at the engine's call rates (one or two per call).
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

func (h *histogram) observe(d time.Duration) {
	v := d.Seconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.bounds {
		if v <= b {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += v
}

func (h *histogram) snapshot() Histogram {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := Histogram{Bounds: h.bounds, Counts: make([]uint64, len(h.bounds)), Count: h.count, Sum: h.sum}
	var acc uint64
	for i, n := range h.counts {
		acc += n
		out.Counts[i] = acc
	}
	return out
}

// callStats are the engine's call-timing distributions.
type callStats struct {
	// ringing and answer run from A's INVITE to B's first 18x and to the
	// answer; talk from the answer to the release.
	ringing, answer, talk *histogram
}

func newCallStats() callStats {
	setup := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	return callStats{
		ringing: newHistogram(setup...),
		answer:  newHistogram(setup...),
		talk:    newHistogram(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400),
	}
}

// SetupLatency is the time from A's INVITE to B's first ringing
// ("ringing") and to the answer ("answer").
func (e *Engine) SetupLatency() map[string]Histogram {
	return map[string]Histogram{"ringing": e.stats.ringing.snapshot(), "answer": e.stats.answer.snapshot()}
}

// TalkTime is how long answered calls lasted, from the answer to the
// release.
func (e *Engine) TalkTime() Histogram { return e.stats.talk.snapshot() }

// observe records d in the histogram of the engine's stats that pick
// names. The state tables' tests run calls without an engine.
func (c *call) observe(pick func(*callStats) *histogram, d time.Duration) {
	if c.e != nil {
		pick(&c.e.stats).observe(d)
	}
}

func ringingTime(s *callStats) *histogram { return s.ringing }
func answerTime(s *callStats) *histogram  { return s.answer }
