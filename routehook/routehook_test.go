package routehook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/routing"
)

// TestAsk: the ask is signed with the pool's secret and carries the call;
// answers are read strictly; a non-2xx, a malformed answer or a slow hook
// is an error.
func TestAsk(t *testing.T) {
	var got struct {
		Type, Pool, X, Caller string
	}
	var (
		mu     sync.Mutex
		sigErr error
	)
	reply := `{"action":"connect","to":"+8613900000002","display":"+8617000000001","max_call_seconds":120}`
	status := http.StatusOK
	delay := time.Duration(0)
	srv := testkit.HTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		sigErr = events.Verify("pool-secret", r.Header.Get(events.SignatureHeader), body, time.Now(), time.Minute)
		_ = json.Unmarshal(body, &got)
		st, rep, d := status, reply, delay
		mu.Unlock()
		time.Sleep(d)
		w.WriteHeader(st)
		_, _ = io.WriteString(w, rep)
	}))
	c := New(func(pool string) string {
		if pool == "couriers" {
			return "pool-secret"
		}
		return ""
	})
	q := routing.HookQuery{URL: srv.URL + "/route", Pool: "couriers", X: "8617000000001", Caller: "8613500000005"}
	ans, err := c.Route(context.Background(), q)
	if err != nil || ans != (routing.HookAnswer{Action: "connect", To: "+8613900000002", Display: "+8617000000001", MaxCallSeconds: 120}) {
		t.Fatalf("answer %+v, %v", ans, err)
	}
	mu.Lock()
	seen, seenErr := got, sigErr
	mu.Unlock()
	if seenErr != nil || seen.Type != "route.request" || seen.Pool != "couriers" || seen.X != q.X || seen.Caller != q.Caller {
		t.Fatalf("the hook got %+v (signature %v)", seen, seenErr)
	}
	for name, tc := range map[string]struct {
		status int
		reply  string
		delay  time.Duration
	}{
		"5xx":          {http.StatusBadGateway, `{}`, 0},
		"not json":     {200, `connect please`, 0},
		"unknown key":  {200, `{"action":"connect","to":"1","via":"x"}`, 0},
		"no action":    {200, `{"to":"+8613900000002"}`, 0},
		"slow":         {200, reply, 300 * time.Millisecond},
		"far too long": {200, `{"action":"reject","code":403,"to":"` + string(make([]byte, 8<<10)) + `"}`, 0},
	} {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			status, reply, delay = tc.status, tc.reply, tc.delay
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if ans, err := c.Route(ctx, q); err == nil {
				t.Fatalf("answer %+v, want an error", ans)
			}
		})
	}
}
