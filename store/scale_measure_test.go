package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The measurements of the scale harness (scale_test.go), one function per
// figure of issue 6 section 6.

// maxTargets bounds the lookup sample the fill keeps.
const maxTargets = 100_000

// sweepBound only stops a broken store from hanging the run.
const sweepBound = 10 * time.Minute

// scaleTarget is a key routing looks up: (X, party) or (X, extension).
type scaleTarget struct{ x, key string }

// scaleSample is what the fill keeps for the measurements: a bounded sample
// of keys of bindings that outlive the sweep, nothing of size n.
type scaleSample struct {
	pairs []scaleTarget // (X, party): AXB A or B, AXN A or B, AXE A
	exts  []scaleTarget // (X, extension) of AXE bindings
}

func (s *scaleSample) add(b Binding) {
	party := b.A
	if len(s.pairs)%2 == 1 && b.B != "" {
		party = b.B
	}
	s.pairs = append(s.pairs, scaleTarget{b.X, party})
	if b.Model == ModelAXE {
		s.exts = append(s.exts, scaleTarget{b.X, b.Extension})
	}
}

// hit reports whether b is the binding keyed by t: on X, with t.key as a
// party or as its extension (parties have 3+ digits more than any
// extension, so the two never mix up).
func (t scaleTarget) hit(b Binding) bool {
	return b.X == t.x && (t.key == b.A || t.key == b.B || t.key == b.Extension)
}

// lookupKind is one routing read the harness measures.
type lookupKind struct {
	name    string
	targets []scaleTarget
	lookup  func(context.Context, *DB, scaleTarget) (Binding, error)
}

// lookupKinds are the rows of the lookup figures; the first is also the
// routing probe of the sweep. A kind with no targets in the sample (no AXE
// in the mix) is left out of the report.
func lookupKinds(s scaleSample) []lookupKind {
	return []lookupKind{
		{"x_caller", s.pairs, func(ctx context.Context, db *DB, t scaleTarget) (Binding, error) { return db.Lookup(ctx, t.x, t.key) }},
		{"x_ext", s.exts, func(ctx context.Context, db *DB, t scaleTarget) (Binding, error) {
			return db.LookupExtension(ctx, t.x, t.key)
		}},
	}
}

// createScale creates nb and fails loudly when the store did not make what
// was asked: a store without AXN or AXE refuses the request or, worse,
// quietly makes an AXB of it. Either must stop the run, not thin the mix.
func createScale(ctx context.Context, db *DB, nb NewBinding) (Binding, error) {
	b, created, err := db.CreateBinding(ctx, nb)
	hint := fmt.Sprintf("a store without %s bindings cannot run this mix: set XBRIDGE_SCALE_MIX=100/0/0", nb.Model)
	switch {
	case err != nil && nb.Model != ModelAXB:
		return b, fmt.Errorf("create %s on %s for %s: %w (%s)", nb.Model, nb.X, nb.A, err, hint)
	case err != nil:
		return b, fmt.Errorf("create %s for %s and %s: %w", nb.Model, nb.A, nb.B, err)
	case !created:
		return b, fmt.Errorf("create %s for %s: the store returned the existing binding %s", nb.Model, nb.A, b.ID)
	case b.Model != nb.Model:
		return b, fmt.Errorf("asked for an %s binding on %s, the store made binding %s an %s (%s)", nb.Model, nb.X, b.ID, b.Model, hint)
	case nb.X != "" && b.X != nb.X:
		return b, fmt.Errorf("asked for %s on %s, the store put binding %s on %s", nb.Model, nb.X, b.ID, b.X)
	case nb.Model == ModelAXE && b.Extension == "":
		return b, fmt.Errorf("AXE binding %s on %s has no extension (%s)", b.ID, b.X, hint)
	}
	return b, nil
}

// fillScale creates the plan's n bindings from writers goroutines, each
// create durable when it returns (concurrent ones share fsyncs through the
// store's batched commits). It returns the sample and each create's
// latency, and logs each tenth done.
func fillScale(ctx context.Context, db *DB, p scalePlan, writers int, logf func(string, ...any)) (scaleSample, latency, error) {
	stride := max(1, p.n/maxTargets)
	tenth := max(1, p.n/10)
	var (
		next     atomic.Int64
		failed   atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	type writer struct {
		lat    latency
		sample scaleSample
	}
	ws := make([]writer, writers)
	for w := range ws {
		me := &ws[w]
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= p.n {
					return
				}
				nb := p.job(i)
				start := time.Now()
				b, err := createScale(ctx, db, nb)
				me.lat.record(time.Since(start))
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("binding %d of %d: %w", i, p.n, err) })
					failed.Store(true)
					return
				}
				if i%stride == 0 && !p.expires(i) {
					me.sample.add(b)
				}
				if (i+1)%tenth == 0 {
					logf("fill: %d of %d", i+1, p.n)
				}
			}
		})
	}
	wg.Wait()
	var (
		s   scaleSample
		lat latency
	)
	for i := range ws {
		s.pairs = append(s.pairs, ws[i].sample.pairs...)
		s.exts = append(s.exts, ws[i].sample.exts...)
		lat.merge(&ws[i].lat)
	}
	if firstErr == nil && len(s.pairs) == 0 {
		firstErr = errors.New("the fill kept no live binding to look up")
	}
	return s, lat, firstErr
}

// measureLookups times n lookups of random targets from one goroutine, then
// n more spread over GOMAXPROCS goroutines. Every answer is checked.
func measureLookups(ctx context.Context, db *DB, k lookupKind, n int) (serial, parallel latency, par int, err error) {
	run := func(seed uint64, n int, lat *latency) error {
		rng := rand.New(rand.NewPCG(seed, 6))
		for range n {
			t := k.targets[rng.IntN(len(k.targets))]
			start := time.Now()
			b, err := k.lookup(ctx, db, t)
			lat.record(time.Since(start))
			if err != nil {
				return fmt.Errorf("lookup %s (%s, %s): %w", k.name, t.x, t.key, err)
			}
			if !t.hit(b) {
				return fmt.Errorf("lookup %s (%s, %s) returned binding %s on %s", k.name, t.x, t.key, b.ID, b.X)
			}
		}
		return nil
	}
	if err := run(1, n, &serial); err != nil {
		return serial, parallel, 0, err
	}
	par = runtime.GOMAXPROCS(0)
	lats := make([]latency, par)
	errs := make([]error, par)
	var wg sync.WaitGroup
	for g := range par {
		wg.Go(func() { errs[g] = run(uint64(g)+2, n/par, &lats[g]) })
	}
	wg.Wait()
	for g := range lats {
		parallel.merge(&lats[g])
	}
	return serial, parallel, par, errors.Join(errs...)
}

// measureAlloc times n allocations of X at the store's full size, single
// writer, twice: alone, as the allocator's choice (pickNumber) in a
// read-only transaction, so without the write transaction, the commit and
// its fsync; then as whole durable CreateBinding calls.
func measureAlloc(ctx context.Context, db *DB, p scalePlan, n int) (pick, create latency, err error) {
	for j := range n {
		nb := p.allocJob(j)
		start := time.Now()
		x, err := pickAlone(db, nb)
		pick.record(time.Since(start))
		if err != nil || x == "" {
			return pick, create, fmt.Errorf("allocate for %s and %s: %q, %w", nb.A, nb.B, x, err)
		}
	}
	for j := range n {
		nb := p.allocJob(j)
		start := time.Now()
		_, err := createScale(ctx, db, nb)
		create.record(time.Since(start))
		if err != nil {
			return pick, create, err
		}
	}
	return pick, create, nil
}

// pickAlone is the allocator's choice of X for nb at the store's present
// state, in a read-only transaction: nothing is written, so its time is
// the allocation's alone.
func pickAlone(db *DB, nb NewBinding) (x string, err error) {
	err = db.bolt.View(func(tx *bolt.Tx) error {
		x, err = db.pickNumber(bucketsOf(tx), nb, db.now())
		return err
	})
	return x, err
}

// measureSweep moves the store's clock past the instant the plan's sweep
// bindings expire and times until Subscribe has delivered every one of
// their Ended events (so all are committed gone). The time includes the
// wait for the sweeper's next tick (WithSweepInterval). Meanwhile a
// goroutine does paced routing lookups of live bindings (probeRouting):
// stall is each lookup's own time, the stall the sweep causes to call
// routing; routed is each from its due time, which adds the probe's wait
// to be woken and given a core.
func measureSweep(ctx context.Context, db *DB, clock *runningClock, p scalePlan, route lookupKind) (took time.Duration, stall, routed latency, err error) {
	events, cancel := db.Subscribe()
	defer cancel()
	done := make(chan struct{})
	probed := make(chan error, 1)
	go func() { probed <- probeRouting(ctx, db, route, done, &stall, &routed) }()

	start := time.Now()
	clock.Advance(p.sweepAt.Sub(clock.Now()) + time.Second)
	err = awaitSweep(events, p)
	took = time.Since(start)
	close(done)
	if perr := <-probed; perr != nil {
		err = errors.Join(err, perr)
	}
	return took, stall, routed, err
}

// awaitSweep reads events until every binding of the sweep has ended; any
// other binding ending is an error.
func awaitSweep(events <-chan Ended, p scalePlan) error {
	timeout := time.After(sweepBound)
	for gone := 0; gone < p.sweep; gone++ {
		select {
		case e, ok := <-events:
			if !ok {
				return fmt.Errorf("subscription closed after %d of %d expired", gone, p.sweep)
			}
			if e.Reason != EndExpired || !e.Binding.ExpiresAt.Equal(p.sweepAt) {
				return fmt.Errorf("binding %s expiring %v ended (%s) in the sweep of %v", e.Binding.ID, e.Binding.ExpiresAt, e.Reason, p.sweepAt)
			}
		case <-timeout:
			return fmt.Errorf("sweep: %d of %d expired within %v", gone, p.sweep, sweepBound)
		}
	}
	return nil
}

// routingEvery paces the routing probe: one lookup each 500 µs, the
// lookups of an engine taking 2,000 calls/s.
//
// An earlier probe looked up back to back. It measured the scheduler more
// than the store: a goroutine that never blocks is preempted every 10 ms
// in favour of the sweeper and the collector on two cores, and its longest
// "stall" (12.3 ms at 1,000,000 bindings) was the runtime's time slice,
// with the sweeper already committing every 2 ms of work.
const routingEvery = 500 * time.Microsecond

// probeRouting looks up random live targets, one per routingEvery, until
// done is closed (or sweepBound passes). stall records each lookup's own
// time: whatever the store makes a lookup wait for (locks, a remap, page
// faults) and any preemption in the middle of it. routed records each
// from its due time, so it adds the probe's wait to be woken and given a
// core; it also counts the timer's lateness (about half a millisecond
// here, most of its p50) and, once a lookup is late, the ones due behind
// it: it overstates what a call would wait.
func probeRouting(ctx context.Context, db *DB, route lookupKind, done <-chan struct{}, stall, routed *latency) error {
	rng := rand.New(rand.NewPCG(7, 7))
	start := time.Now()
	deadline := start.Add(sweepBound)
	due := start
	for {
		select {
		case <-done:
			return nil
		default:
		}
		due = due.Add(routingEvery)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		began := time.Now()
		if began.After(deadline) {
			return nil
		}
		t := route.targets[rng.IntN(len(route.targets))]
		b, err := route.lookup(ctx, db, t)
		end := time.Now()
		stall.record(end.Sub(began))
		routed.record(end.Sub(due))
		if err == nil && !t.hit(b) {
			err = fmt.Errorf("returned binding %s on %s", b.ID, b.X)
		}
		if err != nil {
			return fmt.Errorf("routing during the sweep: %s (%s, %s): %w", route.name, t.x, t.key, err)
		}
	}
}

// memory is the process's resident memory (VmRSS, and its peak VmHWM) and
// the Go heap in use after a collection. bbolt's file is mapped, not on
// the heap: the pages of it the process has touched count in VmRSS.
type memory struct {
	rssKB, peakKB uint64 // 0 where /proc/self/status is not there
	heapBytes     uint64
}

func measureMemory() memory {
	var m memory
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heapBytes = ms.HeapInuse
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), ":")
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.rssKB = kb
		case "VmHWM":
			m.peakKB = kb
		}
	}
	return m
}
