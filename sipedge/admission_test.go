package sipedge

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is a hand-driven time source for the buckets (tests drive it from
// one goroutine).
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var (
	srcA = netip.MustParseAddr("192.0.2.1")
	srcB = netip.MustParseAddr("192.0.2.2")
)

// step is one event of an admission table test.
type step struct {
	advance time.Duration
	op      string // "admit", "screen", "release"
	src     netip.Addr
	n       int // repeat count; 0 means 1
	err     error
	retry   time.Duration // checked when err != nil and retry != 0
}

func TestAdmission(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		exempt netip.Addr // the source WithSourceExempt names, if any
		steps  []step
		want   AdmissionStats
	}{
		{
			name:   "no limits admit everything",
			limits: Limits{},
			steps:  []step{{op: "admit", src: srcA, n: 10000}},
			want:   AdmissionStats{Active: 10000, Admitted: 10000},
		},
		{
			name:   "concurrent calls",
			limits: Limits{MaxCalls: 3},
			steps: []step{
				{op: "admit", src: srcA, n: 3},
				{op: "admit", src: srcB, err: ErrCallLimit, retry: time.Second},
				{op: "screen", src: srcB, err: ErrCallLimit},
				{op: "release"},
				{op: "screen", src: srcB},
				{op: "admit", src: srcB},
				{op: "admit", src: srcA, err: ErrCallLimit},
			},
			want: AdmissionStats{Active: 3, Admitted: 4, RefusedCalls: 3, Stateless: 1},
		},
		{
			name:   "release never goes below zero",
			limits: Limits{MaxCalls: 1},
			steps: []step{
				{op: "release", n: 3},
				{op: "admit", src: srcA},
				{op: "admit", src: srcA, err: ErrCallLimit},
			},
			want: AdmissionStats{Active: 1, Admitted: 1, RefusedCalls: 1},
		},
		{
			name:   "global rate: a second's burst, then one per interval",
			limits: Limits{CPS: 10},
			steps: []step{
				{op: "admit", src: srcA, n: 5},
				{op: "admit", src: srcB, n: 5},
				// 11th in the same instant: the next call is due in 100 ms;
				// Retry-After rounds up to a second.
				{op: "admit", src: srcB, err: ErrRateLimit, retry: time.Second},
				{advance: 99 * time.Millisecond, op: "admit", src: srcA, err: ErrRateLimit},
				{advance: time.Millisecond, op: "admit", src: srcA},
				{op: "admit", src: srcA, err: ErrRateLimit},
				{advance: 100 * time.Millisecond, op: "admit", src: srcB},
			},
			want: AdmissionStats{Active: 12, Admitted: 12, RefusedRate: 3},
		},
		{
			name:   "a quiet spell refills the burst, no more",
			limits: Limits{CPS: 10},
			steps: []step{
				{op: "admit", src: srcA, n: 10},
				{advance: time.Hour, op: "admit", src: srcA, n: 10},
				{op: "admit", src: srcA, err: ErrRateLimit},
			},
			want: AdmissionStats{Active: 20, Admitted: 20, RefusedRate: 1},
		},
		{
			name:   "longer burst",
			limits: Limits{CPS: 10, Burst: 3 * time.Second},
			steps: []step{
				{op: "admit", src: srcA, n: 30},
				{op: "admit", src: srcA, err: ErrRateLimit},
			},
			want: AdmissionStats{Active: 30, Admitted: 30, RefusedRate: 1},
		},
		{
			name:   "slow rate: Retry-After is the real wait",
			limits: Limits{CPS: 0.2}, // one call per 5 s
			steps: []step{
				{op: "admit", src: srcA},
				{op: "admit", src: srcA, err: ErrRateLimit, retry: 5 * time.Second},
				{advance: 3 * time.Second, op: "admit", src: srcA, err: ErrRateLimit, retry: 2 * time.Second},
				{advance: 2 * time.Second, op: "admit", src: srcA},
			},
			want: AdmissionStats{Active: 2, Admitted: 2, RefusedRate: 2},
		},
		{
			name:   "per source: one source over its rate, another still admitted",
			limits: Limits{CPS: 100, CPSPerSource: 2},
			steps: []step{
				{op: "admit", src: srcA, n: 2},
				{op: "admit", src: srcA, err: ErrSourceLimit, retry: time.Second},
				{op: "screen", src: srcA, err: ErrSourceLimit},
				{op: "admit", src: srcB, n: 2},
				{op: "admit", src: srcB, err: ErrSourceLimit},
				{advance: 500 * time.Millisecond, op: "admit", src: srcA},
				{op: "admit", src: srcA, err: ErrSourceLimit},
			},
			want: AdmissionStats{Active: 5, Admitted: 5, RefusedSource: 4, Stateless: 1, Sources: 2},
		},
		{
			name:   "an exempt source is held only by the overall rate",
			limits: Limits{CPS: 5, CPSPerSource: 1},
			exempt: srcA,
			steps: []step{
				{op: "admit", src: srcB},
				{op: "admit", src: srcB, err: ErrSourceLimit},
				{op: "admit", src: srcA, n: 4},
				{op: "admit", src: srcA, err: ErrRateLimit},
			},
			want: AdmissionStats{Active: 5, Admitted: 5, RefusedSource: 1, RefusedRate: 1, Sources: 1},
		},
		{
			name:   "v4-mapped and plain v4 are one source",
			limits: Limits{CPSPerSource: 1},
			steps: []step{
				{op: "admit", src: srcA},
				{op: "admit", src: netip.AddrFrom16(srcA.As16()), err: ErrSourceLimit},
			},
			want: AdmissionStats{Active: 1, Admitted: 1, RefusedSource: 1, Sources: 1},
		},
		{
			name:   "a refusal by one limit consumes nothing from another",
			limits: Limits{CPS: 2, CPSPerSource: 2, MaxCalls: 1},
			steps: []step{
				{op: "admit", src: srcA},
				{op: "admit", src: srcA, err: ErrCallLimit},
				{op: "admit", src: srcA, err: ErrCallLimit},
				{op: "release"},
				// The two refusals took no token: the second of the
				// source's burst is still there.
				{op: "admit", src: srcA},
			},
			want: AdmissionStats{Active: 1, Admitted: 2, RefusedCalls: 2, Sources: 1},
		},
		{
			name:   "source limit reported before the global one",
			limits: Limits{CPS: 1, CPSPerSource: 1},
			steps: []step{
				{op: "admit", src: srcA},
				{op: "admit", src: srcA, err: ErrSourceLimit},
				{op: "admit", src: srcB, err: ErrRateLimit},
			},
			want: AdmissionStats{Active: 1, Admitted: 1, RefusedSource: 1, RefusedRate: 1, Sources: 2},
		},
		{
			name:   "screen never admits, counts its refusals",
			limits: Limits{MaxCalls: 1, CPS: 1, CPSPerSource: 1},
			steps: []step{
				{op: "screen", src: srcA, n: 100},
				{op: "admit", src: srcA},
				{op: "screen", src: srcA, err: ErrSourceLimit},
				{op: "screen", src: srcB, err: ErrRateLimit},
			},
			want: AdmissionStats{Active: 1, Admitted: 1, RefusedSource: 1, RefusedRate: 1, Stateless: 2, Sources: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			exempt := func(a netip.Addr) bool { return tt.exempt.IsValid() && a == tt.exempt }
			a := NewAdmission(tt.limits, WithAdmissionClock(clk.Now), WithSourceExempt(exempt))
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				for range max(s.n, 1) {
					var (
						retry time.Duration
						err   error
					)
					switch s.op {
					case "admit":
						retry, err = a.Admit(s.src)
					case "screen":
						retry, err = a.Screen(s.src)
					case "release":
						a.Release()
						continue
					default:
						t.Fatalf("step %d: op %q", i, s.op)
					}
					if !errors.Is(err, s.err) || (err == nil) != (s.err == nil) {
						t.Fatalf("step %d (%s %v): err %v, want %v", i, s.op, s.src, err, s.err)
					}
					if err != nil && retry < time.Second {
						t.Fatalf("step %d: retry after %v, less than the second Retry-After can say", i, retry)
					}
					if s.err != nil && s.retry != 0 && retry != s.retry {
						t.Fatalf("step %d: retry after %v, want %v", i, retry, s.retry)
					}
				}
			}
			if got := a.Stats(); got != tt.want {
				t.Errorf("stats\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestAdmissionRateBound: whatever the arrival pattern, a GCRA bucket never
// admits more than burst + L/interval calls in any window of length L.
func TestAdmissionRateBound(t *testing.T) {
	const rate, burst = 50.0, 50
	clk := newClock()
	a := NewAdmission(Limits{CPSPerSource: rate}, WithAdmissionClock(clk.Now))
	rng := rand.New(rand.NewPCG(1, 2))
	var admitted []time.Duration // since start
	var elapsed time.Duration
	for range 20000 {
		// Bursts and gaps: mostly back-to-back, now and then a pause.
		d := time.Duration(rng.IntN(2000)) * time.Microsecond
		if rng.IntN(100) == 0 {
			d = time.Duration(rng.IntN(3000)) * time.Millisecond
		}
		clk.Advance(d)
		elapsed += d
		if _, err := a.Admit(srcA); err == nil {
			admitted = append(admitted, elapsed)
		}
	}
	if len(admitted) < 1000 {
		t.Fatalf("only %d admitted over %v: the pattern does not test the bound", len(admitted), elapsed)
	}
	for _, window := range []time.Duration{time.Millisecond, 100 * time.Millisecond, time.Second, 5 * time.Second} {
		bound := burst + int(window.Seconds()*rate)
		j := 0
		for i := range admitted {
			for admitted[i]-admitted[j] >= window {
				j++
			}
			if n := i - j + 1; n > bound {
				t.Fatalf("%d calls admitted within %v ending at %v, bound %d", n, window, admitted[i], bound)
			}
		}
	}
}

// TestAdmissionSourcesBounded: a flood from more addresses than the table
// holds keeps the table at its size; the source seen least recently is
// forgotten, a busy one is not.
func TestAdmissionSourcesBounded(t *testing.T) {
	clk := newClock()
	a := NewAdmission(Limits{CPSPerSource: 1}, WithAdmissionClock(clk.Now), WithMaxSources(64))
	hot := netip.MustParseAddr("10.0.0.1")
	if _, err := a.Admit(hot); err != nil {
		t.Fatal(err)
	}
	for i := range 100000 {
		// Past 65536 the addresses repeat, long after being forgotten: they
		// start again with a full bucket, as a new address does.
		src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		if _, err := a.Admit(src); err != nil {
			t.Fatalf("call %d: source %v refused: %v", i, src, err)
		}
		if i%10 == 0 {
			// The hot source, seen all the time, stays remembered and
			// stays limited.
			if _, err := a.Admit(hot); !errors.Is(err, ErrSourceLimit) {
				t.Fatalf("after %d sources the hot source got %v, want still limited", i, err)
			}
		}
	}
	if n := a.Stats().Sources; n != 64 {
		t.Fatalf("%d sources remembered, want the bound 64", n)
	}
	// An address forgotten long ago starts with a full bucket again.
	if _, err := a.Admit(netip.AddrFrom4([4]byte{198, 18, 0, 5})); err != nil {
		t.Fatalf("forgotten source: %v", err)
	}
}

// TestAdmissionConcurrent: under concurrent Admit/Release the active count
// never passes the limit and returns to zero (run with -race).
func TestAdmissionConcurrent(t *testing.T) {
	const limit = 8
	a := NewAdmission(Limits{MaxCalls: limit, CPS: 1e9, CPSPerSource: 1e9})
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := 0
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := netip.AddrFrom4([4]byte{10, 0, 0, byte(g)})
			for range 2000 {
				if _, err := a.Admit(src); err != nil {
					if !errors.Is(err, ErrCallLimit) {
						t.Errorf("admit: %v", err)
						return
					}
					continue
				}
				if n := a.Stats().Active; n > limit {
					mu.Lock()
					peak = max(peak, n)
					mu.Unlock()
				}
				a.Release()
			}
		}()
	}
	wg.Wait()
	if peak > 0 {
		t.Fatalf("active reached %d, limit %d", peak, limit)
	}
	if s := a.Stats(); s.Active != 0 || s.Admitted == 0 {
		t.Fatalf("after all releases: %+v", s)
	}
}

// BenchmarkAdmission is the cost Admission adds to every new INVITE.
func BenchmarkAdmission(b *testing.B) {
	limits := Limits{MaxCalls: 1 << 30, CPS: 1e9, CPSPerSource: 1e9}
	b.Run("one source", func(b *testing.B) {
		a := NewAdmission(limits)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Admit(srcA); err != nil {
				b.Fatal(err)
			}
			a.Release()
		}
	})
	b.Run("trunk sources", func(b *testing.B) {
		a := NewAdmission(limits)
		srcs := make([]netip.Addr, 16)
		for i := range srcs {
			srcs[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := a.Admit(srcs[i%len(srcs)]); err != nil {
				b.Fatal(err)
			}
			a.Release()
			i++
		}
	})
	b.Run("flood of new sources", func(b *testing.B) {
		// Every call from an address not seen before: each one evicts.
		a := NewAdmission(limits)
		b.ReportAllocs()
		i := uint32(0)
		for b.Loop() {
			src := netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
			if _, err := a.Admit(src); err != nil {
				b.Fatal(err)
			}
			a.Release()
			i++
		}
	})
	b.Run("refused", func(b *testing.B) {
		a := NewAdmission(Limits{CPS: 1})
		_, _ = a.Admit(srcA)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Admit(srcA); err == nil {
				b.Fatal("admitted")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		a := NewAdmission(limits)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Admit(srcA); err != nil {
					b.Fatal(err)
				}
				a.Release()
			}
		})
	})
}
