package api

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// Retries of one order racing each other bind once: one 201, the rest 200
// with the same binding.
func TestConcurrentRetriesBindOnce(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1, x2)
	const n = 16
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
		ids   = map[string]bool{}
	)
	for range n {
		wg.Go(func() {
			r := a.post(`{"a":"13800000001","b":"13900000002","ttl_seconds":600,"order_id":"race-1"}`)
			mu.Lock()
			defer mu.Unlock()
			codes[r.status]++
			if r.status == http.StatusOK || r.status == http.StatusCreated {
				ids[r.id] = true
			}
		})
	}
	wg.Wait()
	if codes[http.StatusCreated] != 1 || codes[http.StatusOK] != n-1 || len(ids) != 1 {
		t.Fatalf("codes %v, ids %v; want one 201, %d 200s, one id", codes, ids, n-1)
	}
	if bs := a.bindings(); len(bs) != 1 {
		t.Fatalf("store holds %d bindings", len(bs))
	}
}

// One party racing for the only number of a pool gets it once; the others
// hear no_number.
func TestConcurrentCreatesRespectReuseRule(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1)
	const n = 12
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
	)
	for i := range n {
		wg.Go(func() {
			r := a.post(fmt.Sprintf(`{"a":"13800000001","b":"139000000%02d","ttl_seconds":600}`, i))
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusCreated] != 1 || codes[http.StatusConflict] != n-1 {
		t.Fatalf("codes %v; want one 201 and %d 409s", codes, n-1)
	}
	if bs := a.bindings(); len(bs) != 1 || bs[0].A != pa {
		t.Fatalf("store holds %+v", bs)
	}
}
