package store

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestNthFree(t *testing.T) {
	tests := []struct {
		skip []uint32
		r    uint32
		want uint32
	}{
		{nil, 0, 0},
		{nil, 5, 5},
		{[]uint32{0}, 0, 1},
		{[]uint32{0, 1, 2}, 0, 3},
		{[]uint32{1, 3}, 0, 0},
		{[]uint32{1, 3}, 1, 2},
		{[]uint32{1, 3}, 2, 4},
		{[]uint32{5}, 4, 4},
		{[]uint32{5}, 5, 6},
	}
	for _, tc := range tests {
		if got := nthFree(tc.skip, tc.r); got != tc.want {
			t.Errorf("nthFree(%v, %d) = %d, want %d", tc.skip, tc.r, got, tc.want)
		}
	}
	// Exhaustively: nthFree enumerates exactly the free positions, in order.
	const n = 12
	for mask := range 1 << n {
		var skip []uint32
		var free []uint32
		for i := range uint32(n) {
			if mask&(1<<i) != 0 {
				skip = append(skip, i)
			} else {
				free = append(free, i)
			}
		}
		for r, want := range free {
			if got := nthFree(skip, uint32(r)); got != want {
				t.Fatalf("skip %v: nthFree(%d) = %d, want %d", skip, r, got, want)
			}
		}
	}
}

// TestAllocationUniformAmongFree binds A on 6 of 10 numbers, then draws 200
// bindings of A with fresh B's (deleting each, without quarantine): every
// one must land on one of the 4 free numbers, and each of those must be
// drawn. A uniform draw misses one of them with P <= 4*(3/4)^200 = 4e-25.
func TestAllocationUniformAmongFree(t *testing.T) {
	db := openTest(t, WithQuarantine(0))
	ctx := context.Background()
	var xs []string
	for i := range 10 {
		xs = append(xs, fmt.Sprintf("17000000%02d", i))
	}
	mustAdd(t, db, "p", xs...)
	const a = "13800000000"
	expires := time.Now().Add(time.Hour)
	for i := range 6 {
		if _, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", X: xs[i], A: a, B: fmt.Sprintf("1390000%04d", i), ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for i := range 200 {
		b, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: a, B: fmt.Sprintf("1370000%04d", i), ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		seen[b.X]++
		if _, err := db.DeleteBinding(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range xs[:6] {
		if seen[x] != 0 {
			t.Fatalf("A got a second binding on %s", x)
		}
	}
	for _, x := range xs[6:] {
		if seen[x] == 0 {
			t.Fatalf("free number %s never drawn: %v", x, seen)
		}
	}
}

// TestPickWithFit drives the fit hook the AXN and AXE models use: a check
// that refuses all but one number is found by the scan after the bounded
// draws, checking no number twice; one that refuses all gives nothing.
func TestPickWithFit(t *testing.T) {
	db := openTest(t)
	var xs []string
	for i := range 50 {
		xs = append(xs, fmt.Sprintf("17000000%02d", i))
	}
	mustAdd(t, db, "p", xs...)
	nb := NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: time.Now().Add(time.Hour)}
	tests := []struct {
		name  string
		fits  func(x string) bool
		want  string
		calls int // at most
	}{
		{"only one fits", func(x string) bool { return x == xs[37] }, xs[37], 50},
		{"none fits", func(string) bool { return false }, "", 50},
		{"all fit", func(string) bool { return true }, "*", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			seen := map[string]bool{}
			err := db.bolt.View(func(tx *bolt.Tx) error {
				x, err := db.pick(bucketsOf(tx), nb, db.now(), func(x []byte) bool {
					calls++
					if seen[string(x)] {
						t.Errorf("%s checked twice", x)
					}
					seen[string(x)] = true
					return tc.fits(string(x))
				})
				if tc.want == "" {
					if !errors.Is(err, ErrNoNumber) {
						t.Errorf("pick = %q, %v; want ErrNoNumber", x, err)
					}
					return nil
				}
				if err != nil || (tc.want != "*" && x != tc.want) {
					t.Errorf("pick = %q, %v; want %s", x, err, tc.want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls > tc.calls {
				t.Fatalf("%d fit checks, want at most %d", calls, tc.calls)
			}
		})
	}
}

// TestConcurrentAllocation races creates, deletes, disables, enables and
// number deletes over a small pool of two areas under -race; check at close
// verifies the dense indexes and counters, and the listing the reuse rule.
func TestConcurrentAllocation(t *testing.T) {
	db := openTest(t, WithQuarantine(0))
	ctx := context.Background()
	for i, area := range []string{"010", "021"} {
		var xs []string
		for j := range 8 {
			xs = append(xs, fmt.Sprintf("170%d00000%02d", i, j))
		}
		if _, err := db.AddAreaNumbers(ctx, "p", area, xs); err != nil {
			t.Fatal(err)
		}
	}
	const workers, rounds = 12, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				switch (w + i) % 5 {
				case 0, 1, 2:
					nb := NewBinding{Pool: "p", A: fmt.Sprintf("1380000%04d", i%7), B: fmt.Sprintf("1390%03d%04d", w, i),
						Area: []string{"", "010", "021"}[i%3], AreaMatch: []AreaMatch{AreaStrict, AreaLoose}[w%2], ExpiresAt: time.Now().Add(time.Hour)}
					b, _, err := db.CreateBinding(ctx, nb)
					if err != nil && !errors.Is(err, ErrNoNumber) {
						errs <- err
						continue
					}
					if err == nil && i%2 == 0 {
						if _, err := db.DeleteBinding(ctx, b.ID); err != nil {
							errs <- err
						}
					}
				case 3:
					x := fmt.Sprintf("170%d00000%02d", w%2, i%8)
					if _, err := db.SetNumberDisabled(ctx, "p", x, i%2 == 0); err != nil && !errors.Is(err, ErrNotInPool) {
						errs <- err
					}
				case 4:
					x := fmt.Sprintf("170%d00000%02d", w%2, i%8)
					err := db.DeleteNumber(ctx, "p", x)
					if err == nil {
						_, err = db.AddAreaNumbers(ctx, "p", []string{"010", "021"}[w%2], []string{x})
					}
					if err != nil && !errors.Is(err, ErrNumberInUse) && !errors.Is(err, ErrNotInPool) {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, err := db.ListBindings(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[string]bool{}
	for _, b := range all {
		for _, p := range []string{b.A, b.B} {
			k := b.X + "/" + p
			if pairs[k] {
				t.Fatalf("%s twice", k)
			}
			pairs[k] = true
		}
	}
	if err := db.check(); err != nil {
		t.Fatal(err)
	}
}

// allocBindings sizes BenchmarkAllocate; the scale figure is
// -alloc-bindings=1000000 (about a minute to build).
var allocBindings = flag.Int("alloc-bindings", 100_000, "live bindings BenchmarkAllocate builds over its 10,000 numbers")

// BenchmarkAllocate measures the allocator alone (pick in a read
// transaction, no commit) over a pool of 10,000 numbers carrying
// -alloc-bindings live bindings (default 100,000); each request's A already
// has 20 bindings, so the taken set is not empty. It reports the p50 and
// p99 of one pick. The store is built directly in chunked transactions, so
// the benchmark is quick to start (-benchtime=2000x).
func BenchmarkAllocate(b *testing.B) {
	db := openTest(b, WithQuarantine(time.Hour))
	const numbers, perA = 10_000, 20
	bindings := *allocBindings - *allocBindings%1000
	if bindings < 1000 {
		b.Fatalf("-alloc-bindings %d: at least 1000", *allocBindings)
	}
	xs := make([]string, numbers)
	for i := range xs {
		xs[i] = fmt.Sprintf("1700%06d", i)
	}
	if _, err := db.AddAreaNumbers(context.Background(), "p", "010", xs[:numbers/2]); err != nil {
		b.Fatal(err)
	}
	mustAdd(b, db, "p", xs[numbers/2:]...)
	now := time.Now()
	// Chunks of 1,000: bbolt splits nodes only at commit, so one huge
	// transaction of random inserts goes quadratic.
	for chunk := 0; chunk < bindings; chunk += 1000 {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			bk := bucketsOf(tx)
			for i := chunk; i < chunk+1000; i++ {
				x := xs[(i*7919)%numbers]
				bd := Binding{ID: fmt.Sprintf("b%09d", i), Model: ModelAXB, Pool: "p", X: x,
					A: fmt.Sprintf("138%08d", i/perA), B: fmt.Sprintf("139%08d", i),
					CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
				if err := bk.insertBinding(bd); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, area := range []string{"", "010"} {
		b.Run("area="+area, func(b *testing.B) {
			lat := make([]time.Duration, 0, 1<<16)
			i := 0
			for b.Loop() {
				nb := NewBinding{Pool: "p", A: fmt.Sprintf("138%08d", i%(bindings/perA)), B: fmt.Sprintf("137%08d", i),
					Area: area, AreaMatch: AreaStrict}
				start := time.Now()
				err := db.bolt.View(func(tx *bolt.Tx) error {
					_, err := db.pickNumber(bucketsOf(tx), nb, now)
					return err
				})
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
		})
	}
}
