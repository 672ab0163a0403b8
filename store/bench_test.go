package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// benchStore is a store with 10,000 bindings over 100 numbers, the shape of
// a busy pool.
func benchStore(b *testing.B, opts ...Option) (*DB, []Binding) {
	b.Helper()
	db := openTest(b, opts...)
	numbers := make([]string, 100)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("17000%05d", i)
	}
	mustAdd(b, db, "p", numbers...)
	ids := createMany(b, db, 10_000, time.Now().Add(24*time.Hour))
	all, err := db.ListBindings(context.Background(), Filter{Limit: len(ids)})
	if err != nil || len(all) != len(ids) {
		b.Fatalf("listed %d of %d: %v", len(all), len(ids), err)
	}
	return db, all
}

func BenchmarkLookup(b *testing.B) {
	db, all := benchStore(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			w := all[i%len(all)]
			got, err := db.Lookup(ctx, w.X, w.B)
			if err != nil || got.ID != w.ID {
				b.Fatalf("Lookup = %+v, %v", got, err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				w := all[i%len(all)]
				got, err := db.Lookup(ctx, w.X, w.A)
				if err != nil || got.ID != w.ID {
					b.Fatalf("Lookup = %+v, %v", got, err)
				}
				i++
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.Lookup(ctx, "1700000001", "19999999999"); err == nil {
				b.Fatal("stranger resolved")
			}
		}
	})
}

// BenchmarkCreateBinding measures durable creates: every op is fsynced. The
// batch variants share fsyncs between concurrent writers through bbolt's
// Batch with the given MaxBatchDelay.
func BenchmarkCreateBinding(b *testing.B) {
	for _, delay := range []time.Duration{0, 200 * time.Microsecond, time.Millisecond, 2 * time.Millisecond} {
		name := "update"
		if delay > 0 {
			name = "batch" + delay.String()
		}
		open := func(b *testing.B) *DB {
			db := openTest(b, WithBatchDelay(delay))
			numbers := make([]string, 100)
			for i := range numbers {
				numbers[i] = fmt.Sprintf("17000%05d", i)
			}
			mustAdd(b, db, "p", numbers...)
			return db
		}
		var party atomic.Int64
		create := func(b *testing.B, db *DB) {
			i := party.Add(1)
			_, _, err := db.CreateBinding(context.Background(), NewBinding{
				Pool: "p", A: fmt.Sprintf("130%08d", i), B: fmt.Sprintf("131%08d", i), ExpiresAt: time.Now().Add(time.Hour),
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		{
			b.Run(name+"/serial", func(b *testing.B) {
				db := open(b)
				b.ReportAllocs()
				for b.Loop() {
					create(b, db)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			})
		}
		for _, par := range []int{4, 16, 64} {
			b.Run(fmt.Sprintf("%s/parallel%d", name, par), func(b *testing.B) {
				db := open(b)
				b.ReportAllocs()
				b.SetParallelism(par) // goroutines = par x GOMAXPROCS
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						create(b, db)
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			})
		}
	}
}

// BenchmarkActiveCalls measures what recording a call costs the engine's
// call path. "short" is a call that ends within the flush interval (put and
// delete cancel out: no I/O); "held" keeps 1,000 calls up, so every op puts
// one call and deletes the one answered 1,000 ops earlier; "fsync-each"
// commits every put on its own, the cost the write-behind queue avoids.
// commits/1000calls is how many transactions (fsyncs) a thousand calls cost.
func BenchmarkActiveCalls(b *testing.B) {
	ctx := context.Background()
	calls := make([]ActiveCall, 4096)
	for i := range calls {
		calls[i] = testActiveCall(fmt.Sprintf("%032x", i))
	}
	for _, bc := range []struct {
		name string
		op   func(db *DB, i int) error
	}{
		{"short", func(db *DB, i int) error {
			c := &calls[i%len(calls)]
			if err := db.PutActiveCall(ctx, *c); err != nil {
				return err
			}
			return db.DeleteActiveCall(ctx, c.ID)
		}},
		{"held", func(db *DB, i int) error {
			if err := db.PutActiveCall(ctx, calls[i%len(calls)]); err != nil || i < 1000 {
				return err
			}
			return db.DeleteActiveCall(ctx, calls[(i-1000)%len(calls)].ID)
		}},
		{"fsync-each", func(db *DB, i int) error {
			if err := db.PutActiveCall(ctx, calls[i%len(calls)]); err != nil {
				return err
			}
			return db.flushActive()
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db := openTest(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := bc.op(db, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if err := db.flushActive(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(db.active.commits.Load())*1000/float64(b.N), "commits/1000calls")
		})
	}
}

// BenchmarkResolve is routing's read: a keyed caller (every AXB call) must
// cost what Lookup costs; a stranger on an X with extensions reads more.
func BenchmarkResolve(b *testing.B) {
	db, all := benchStore(b)
	ctx := context.Background()
	b.Run("pair", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			w := all[i%len(all)]
			res, err := db.Resolve(ctx, w.X, w.B)
			if err != nil || res.Binding.ID != w.ID {
				b.Fatalf("Resolve = %+v, %v", res, err)
			}
			i++
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.Resolve(ctx, "1700000001", "19999999999"); err == nil {
				b.Fatal("stranger resolved")
			}
		}
	})
}

// BenchmarkGetBinding is the engine's per-call check that a binding still
// exists (b2bua bindingLive).
func BenchmarkGetBinding(b *testing.B) {
	db, all := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := all[i%len(all)]
		if got, err := db.GetBinding(ctx, w.ID); err != nil || got.ID != w.ID {
			b.Fatalf("GetBinding = %+v, %v", got, err)
		}
		i++
	}
}
