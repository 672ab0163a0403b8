package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestConcurrentWriters races creates and deletes over a small pool and a
// small set of parties, then checks every index against the bindings.
func TestConcurrentWriters(t *testing.T) {
	const (
		writers = 8
		each    = 200
		parties = 400
	)
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"update", []Option{WithBatchDelay(0)}},
		{"batch", []Option{WithBatchDelay(time.Millisecond)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t, append(tc.opts, WithQuarantine(time.Hour))...)
			mustAdd(t, db, "p", "1700000001", "1700000002", "1700000003", "1700000004")
			var (
				wg                        sync.WaitGroup
				mu                        sync.Mutex
				created, deleted, refused int
				unexpected                []error
			)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 42))
					var mine []string
					for range each {
						if len(mine) > 0 && rng.IntN(4) == 0 {
							i := rng.IntN(len(mine))
							_, err := db.DeleteBinding(ctx, mine[i])
							mine = append(mine[:i], mine[i+1:]...)
							mu.Lock()
							if err != nil {
								unexpected = append(unexpected, err)
							}
							deleted++
							mu.Unlock()
							continue
						}
						a := rng.IntN(parties)
						b := (a + 1 + rng.IntN(parties-1)) % parties
						nb := NewBinding{Pool: "p", A: fmt.Sprintf("138%08d", a), B: fmt.Sprintf("138%08d", b), ExpiresAt: time.Now().Add(time.Hour)}
						got, _, err := db.CreateBinding(ctx, nb)
						mu.Lock()
						switch {
						case err == nil:
							mine = append(mine, got.ID)
							created++
						case errors.Is(err, ErrNoNumber):
							refused++
						default:
							unexpected = append(unexpected, err)
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(unexpected...); err != nil {
				t.Fatal(err)
			}
			if err := db.check(); err != nil {
				t.Fatalf("indexes after concurrent writes:\n%v", err)
			}
			all, err := db.ListBindings(ctx, Filter{Limit: writers * each})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != created-deleted {
				t.Fatalf("%d bindings left, want %d created - %d deleted", len(all), created, deleted)
			}
			info, err := db.Pool(ctx, "p")
			if err != nil || info.Bindings != len(all) {
				t.Fatalf("Pool = %+v, %v; want %d bindings", info, err, len(all))
			}
			t.Logf("%d created, %d deleted, %d refused (no number)", created, deleted, refused)
		})
	}
}

// TestCheckFindsDamage corrupts the file behind the store's back, one way per
// case, and expects check to say what is wrong.
func TestCheckFindsDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(bk buckets, b Binding) error
		want   string
	}{
		{"x_party key gone", func(bk buckets, b Binding) error {
			return bk.xParty.Delete(pairKey(nil, b.X, b.A))
		}, "x_party"},
		{"party_x points elsewhere", func(bk buckets, b Binding) error {
			return bk.partyX.Put(pairKey(nil, b.B, b.X), []byte("bnope"))
		}, "party_x"},
		{"dangling order", func(bk buckets, b Binding) error {
			return bk.order.Put([]byte("ghost"), []byte(b.ID+"x"))
		}, "order"},
		{"expiry key gone", func(bk buckets, b Binding) error {
			return bk.expiry.Delete(expiryKey(b))
		}, "expiry"},
		{"reserved bytes set", func(bk buckets, b Binding) error {
			v := bytes.Clone(bk.numbers.Get([]byte(b.X)))
			v[4] = 5
			return bk.numbers.Put([]byte(b.X), v)
		}, "reserved"},
		{"pool in use off", func(bk buckets, b Binding) error {
			ps, err := bk.poolStatsOf(b.Pool)
			if err != nil {
				return err
			}
			ps.inUse += 2
			return bk.putPoolStats(b.Pool, ps)
		}, "pool"},
		{"index hole", func(bk buckets, b Binding) error {
			return bk.poolIndex.Delete(indexKey(prefixKey(b.Pool), 0))
		}, "pool_index"},
		{"area stats off", func(bk buckets, b Binding) error {
			return bk.poolAreas.Put(pairKey(nil, b.Pool, ""), areaStats{size: 3}.encode())
		}, "pool area"},
		{"party quarantine gone", func(bk buckets, b Binding) error {
			if err := bk.putQuarantine(pairKey(nil, b.X, "13700000000"), epoch.Add(time.Hour), b.ID); err != nil {
				return err
			}
			return bk.partyQuar.Delete(pairKey(nil, "13700000000", b.X))
		}, "party_quar"},
		{"stats off", func(bk buckets, b Binding) error {
			return bk.pools.Put([]byte(b.Pool), poolStats{size: 9}.encode())
		}, "stats"},
		{"quarantine without expiry key", func(bk buckets, b Binding) error {
			return bk.quarantine.Put(pairKey(nil, b.X, "13700000000"), quarantineValue(epoch, b.ID))
		}, "quarantine"},
		{"record garbled", func(bk buckets, b Binding) error {
			return bk.bindings.Put([]byte(b.ID), []byte{1, 2, 3})
		}, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(filepath.Join(t.TempDir(), "x.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			mustAdd(t, db, "p", "1700000001")
			b, _, err := db.CreateBinding(context.Background(), NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.check(); err != nil {
				t.Fatalf("check before damage: %v", err)
			}
			if err := db.bolt.Update(func(tx *bolt.Tx) error { return tc.damage(bucketsOf(tx), b) }); err != nil {
				t.Fatal(err)
			}
			err = db.check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

const crashEnv = "XBRIDGE_STORE_CRASH_DB"

// TestCrash kills a writer with SIGKILL mid-stream and reopens its file:
// every binding the writer saw committed must be there, every deletion it saw
// committed must hold, and the indexes must agree.
func TestCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the crash child")
	}
	for round := range 3 {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			created := map[string]bool{}
			deleted := map[string]bool{}
			deleting := map[string]bool{} // a delete may be in flight at the kill
			// Kill after a varying number of acknowledged writes.
			want := 40 + round*70
			db := crashChild(t, "TestCrashChild", path, func(line string) bool {
				switch f := strings.Fields(line); {
				case len(f) >= 2 && f[0] == "C":
					created[f[1]] = true
					deleting[f[1]] = len(f) == 3 && f[2] == "del"
				case len(f) == 2 && f[0] == "D":
					deleted[f[1]] = true
				}
				return len(created)+len(deleted) >= want
			})
			if len(created) == 0 {
				t.Fatal("child acknowledged nothing")
			}
			ctx := context.Background()
			for id := range created {
				_, err := db.GetBinding(ctx, id)
				switch {
				case deleted[id] && !errors.Is(err, ErrNotFound):
					t.Errorf("binding %s deleted before the kill is back: %v", id, err)
				case !deleted[id] && deleting[id] && errors.Is(err, ErrNotFound):
					// Its delete committed; the kill came before the D line.
				case !deleted[id] && err != nil:
					t.Errorf("binding %s acknowledged before the kill is lost: %v", id, err)
				}
			}
			t.Logf("%d creates and %d deletes acknowledged before SIGKILL", len(created), len(deleted))
		})
	}
}

// crashChild runs the test named child in a subprocess writing the store at
// path, hands record every line the child prints, SIGKILLs it once record
// returns true (or after a minute), and drains the child's output: lines
// printed before the kill landed are acknowledged writes too. It returns
// the store reopened, its indexes checked; the test closes it.
func crashChild(t *testing.T, child, path string, record func(line string) (kill bool)) *DB {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(60 * time.Second)
	acked := 0
read:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child exited after %d lines: %v", acked, cmd.Wait())
			}
			acked++
			if record(line) {
				break read
			}
		case <-timeout:
			break read
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	drained := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				return reopenChecked(t, path)
			}
			record(line)
		case <-drained:
			t.Fatal("child's stdout still open 30s after SIGKILL")
		}
	}
}

func reopenChecked(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.check(); err != nil {
		t.Fatalf("indexes after kill:\n%v", err)
	}
	return db
}

// TestCrashChild is the writer TestCrash kills; it runs only in the child.
// Several goroutines write at once so the kill also lands in batched
// transactions.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrash")
	}
	db, err := Open(path, WithQuarantine(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.AddNumbers(ctx, "p", []string{"1700000001", "1700000002", "1700000003"}); err != nil {
		t.Fatal(err)
	}
	const writers = 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded even if nobody kills it.
			for i := w; i < 100_000; i += writers {
				b, _, err := db.CreateBinding(ctx, NewBinding{
					Pool: "p", A: fmt.Sprintf("130%08d", i), B: fmt.Sprintf("131%08d", i),
					OrderID: fmt.Sprintf("o%d", i), ExpiresAt: time.Now().Add(time.Hour),
				})
				if err != nil {
					t.Error(err)
					return
				}
				// One short write(2) per line: lines from the writers never
				// interleave. "C id del" marks a binding whose delete follows,
				// which the kill may land in after it committed but before
				// its D line: either outcome is then correct.
				if i%3 == 2 {
					fmt.Printf("C %s del\n", b.ID)
				} else {
					fmt.Printf("C %s\n", b.ID)
				}
				if i%3 == 2 {
					if _, err := db.DeleteBinding(ctx, b.ID); err != nil {
						t.Error(err)
						return
					}
					fmt.Printf("D %s\n", b.ID)
				}
			}
		}()
	}
	wg.Wait()
}
