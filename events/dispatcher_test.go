package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/store"
)

const secret = "whsec-test"

func openStore(t *testing.T, path string) *store.DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "xbridge.db")
	}
	db, err := store.Open(path, store.WithCallFlush(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func verifier(header http.Header, body []byte) error {
	return events.Verify(secret, header.Get(events.SignatureHeader), body, time.Now(), time.Minute)
}

// queue puts n events on each of streams into the outbox, in rounds, so
// the streams interleave.
func queue(t *testing.T, db *store.DB, pool string, streams []string, n int) {
	t.Helper()
	for i := range n {
		for _, s := range streams {
			id, err := store.NewEventID(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]any{"id": id, "stream": s, "n": i})
			ev := store.Event{ID: id, Type: "call.test", Stream: s, Pool: pool, At: time.Now(), Body: body}
			if err := db.QueueCall(context.Background(), store.CallChange{Events: []store.Event{ev}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type delivered struct {
	ID     string `json:"id"`
	Stream string `json:"stream"`
	N      int    `json:"n"`
}

func decode(t *testing.T, raw []json.RawMessage) []delivered {
	t.Helper()
	out := make([]delivered, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, r)
		}
	}
	return out
}

// checkOrder fails unless each stream's events arrived in order (a
// redelivery may repeat the last one).
func checkOrder(t *testing.T, got []delivered) {
	t.Helper()
	last := map[string]int{}
	for _, d := range got {
		prev, seen := last[d.Stream]
		if seen && d.N < prev {
			t.Errorf("stream %s: event %d after %d", d.Stream, d.N, prev)
		}
		if !seen && d.N != 0 {
			t.Errorf("stream %s began with event %d", d.Stream, d.N)
		}
		last[d.Stream] = d.N
	}
}

func run(t *testing.T, d *events.Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitOutboxEmpty(t *testing.T, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, err := db.OutboxAfter(context.Background(), 0, 10)
		if err == nil && len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d entries", len(left))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliversSignedInOrder(t *testing.T) {
	for _, batch := range []int{0, 7} {
		t.Run(fmt.Sprint("batch ", batch), func(t *testing.T) {
			db := openStore(t, "")
			hook := testkit.NewWebhook(t, verifier)
			routes := func(pool, _ string) (events.Webhook, bool) {
				return events.Webhook{URL: hook.URL, Secret: secret, Batch: batch, Concurrency: 4}, pool == "p1"
			}
			streams := []string{"r1", "r2", "r3", "r4", "r5"}
			queue(t, db, "p1", streams, 20)
			queue(t, db, "elsewhere", []string{"r9"}, 3) // no webhook: dropped
			run(t, events.NewDispatcher(db, routes))
			got := decode(t, hook.WaitAccepted(t, 100, 10*time.Second))
			checkOrder(t, got)
			seen := map[string]bool{}
			for _, d := range got {
				seen[d.ID] = true
				if d.Stream == "r9" {
					t.Errorf("event of a pool with no webhook delivered: %+v", d)
				}
			}
			if len(seen) != 100 {
				t.Errorf("%d distinct events delivered, want 100", len(seen))
			}
			for _, p := range hook.Posts() {
				if p.VerifyErr != nil {
					t.Errorf("signature: %v (header %q)", p.VerifyErr, p.Header.Get(events.SignatureHeader))
				}
				if ct := p.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				if batch == 0 && (len(p.Events) != 1 || p.Header.Get(events.EventIDHeader) == "") {
					t.Errorf("unbatched POST with %d events and event id %q", len(p.Events), p.Header.Get(events.EventIDHeader))
				}
				if len(p.Events) > max(batch, 1) {
					t.Errorf("POST of %d events, batch is %d", len(p.Events), batch)
				}
			}
			if batch > 1 && len(hook.Posts()) >= 100 {
				t.Errorf("%d POSTs for 100 events in batches of %d", len(hook.Posts()), batch)
			}
			waitOutboxEmpty(t, db)
		})
	}
}

// A receiver that fails gets the events again, still in order per stream.
func TestRetriesKeepOrder(t *testing.T) {
	db := openStore(t, "")
	hook := testkit.NewWebhook(t, verifier)
	hook.FailFirst(15, http.StatusServiceUnavailable)
	routes := func(string, string) (events.Webhook, bool) {
		return events.Webhook{URL: hook.URL, Secret: secret, Concurrency: 3}, true
	}
	queue(t, db, "p1", []string{"r1", "r2", "r3"}, 10)
	d := events.NewDispatcher(db, routes, events.WithBackoff(time.Millisecond, 20*time.Millisecond))
	run(t, d)
	got := decode(t, hook.WaitAccepted(t, 30, 10*time.Second))
	checkOrder(t, got)
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Delivered < 30 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := d.Stats(); st.Delivered != 30 || st.Posts["5xx"] != 15 || st.Posts["2xx"] != 30 || st.Held != 0 || st.Dead != 0 {
		t.Errorf("stats %+v, want 30 delivered in 30 accepted POSTs after 15 refused", st)
	}
	failed := 0
	for _, p := range hook.Posts() {
		if p.Status == http.StatusServiceUnavailable {
			failed++
		}
	}
	if failed != 15 {
		t.Errorf("%d refused POSTs, want 15", failed)
	}
	waitOutboxEmpty(t, db)
}

// Past the retry window an event is a dead letter: listed, with its
// attempts and last error, and delivered once retried.
func TestDeadLetterAndRetry(t *testing.T) {
	db := openStore(t, "")
	hook := testkit.NewWebhook(t, verifier)
	hook.FailFirst(1<<30, http.StatusInternalServerError)
	routes := func(string, string) (events.Webhook, bool) {
		return events.Webhook{URL: hook.URL, Secret: secret}, true
	}
	queue(t, db, "p1", []string{"r1"}, 2)
	run(t, events.NewDispatcher(db, routes, events.WithRetryWindow(100*time.Millisecond),
		events.WithBackoff(5*time.Millisecond, 20*time.Millisecond)))
	var dead []store.DeadEvent
	deadline := time.Now().Add(10 * time.Second)
	for len(dead) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("dead letters: %d, want 2", len(dead))
		}
		time.Sleep(10 * time.Millisecond)
		dead, _ = db.DeadEvents(context.Background(), "", 10)
	}
	for _, d := range dead {
		if d.Attempts < 1 || d.LastError != "receiver answered 500" {
			t.Errorf("dead event %s: %d attempts, last error %q", d.ID, d.Attempts, d.LastError)
		}
	}
	waitOutboxEmpty(t, db)
	hook.FailFirst(0, 0)
	// Two IDs of one millisecond sort at random: retry in the stream's order.
	sort.Slice(dead, func(i, j int) bool {
		return decode(t, []json.RawMessage{dead[i].Body})[0].N < decode(t, []json.RawMessage{dead[j].Body})[0].N
	})
	for _, d := range dead {
		if _, err := db.RetryDead(context.Background(), d.ID); err != nil {
			t.Fatal(err)
		}
	}
	got := decode(t, hook.WaitAccepted(t, 2, 10*time.Second))
	checkOrder(t, got)
	waitOutboxEmpty(t, db)
}

// A receiver that hangs holds up only its own events.
func TestSlowReceiverHoldsUpOnlyItself(t *testing.T) {
	db := openStore(t, "")
	slow := testkit.NewWebhook(t, nil)
	slow.Hold()
	fast := testkit.NewWebhook(t, verifier)
	routes := func(pool, _ string) (events.Webhook, bool) {
		if pool == "slow" {
			return events.Webhook{URL: slow.URL, Concurrency: 2, Timeout: time.Minute}, true
		}
		return events.Webhook{URL: fast.URL, Secret: secret}, true
	}
	queue(t, db, "slow", []string{"s1", "s2", "s3"}, 5)
	queue(t, db, "fast", []string{"f1", "f2"}, 25)
	run(t, events.NewDispatcher(db, routes))
	checkOrder(t, decode(t, fast.WaitAccepted(t, 50, 10*time.Second)))
	if n := len(slow.Posts()); n != 0 {
		t.Errorf("held receiver completed %d POSTs", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, _ := db.OutboxAfter(context.Background(), 0, 100)
		if len(left) == 15 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox holds %d entries, want the slow receiver's 15", len(left))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// What a stopped dispatcher had not delivered goes when the next one runs
// on the reopened store; memory held stays under its bound meanwhile.
func TestDeliveryResumesAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xbridge.db")
	db := openStore(t, path)
	hook := testkit.NewWebhook(t, verifier)
	hook.FailFirst(1<<30, http.StatusBadGateway)
	routes := func(string, string) (events.Webhook, bool) {
		return events.Webhook{URL: hook.URL, Secret: secret}, true
	}
	queue(t, db, "p1", []string{"r1", "r2"}, 30)
	stop := run(t, events.NewDispatcher(db, routes, events.WithMaxHeld(8),
		events.WithBackoff(time.Millisecond, 5*time.Millisecond)))
	time.Sleep(100 * time.Millisecond)
	stop()
	for _, p := range hook.Posts() {
		if p.Status < 300 {
			t.Fatalf("a POST was accepted while the receiver was down")
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openStore(t, path)
	hook.FailFirst(0, 0)
	run(t, events.NewDispatcher(db, routes))
	got := decode(t, hook.WaitAccepted(t, 60, 10*time.Second))
	checkOrder(t, got)
	waitOutboxEmpty(t, db)
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"e1"}`)
	h := events.Sign(secret, now, body)
	if want := "t=1800000000,v1="; h[:len(want)] != want {
		t.Errorf("header %q", h)
	}
	tests := map[string]struct {
		secret, header string
		body           []byte
		at             time.Time
		want           error
	}{
		"good":          {secret, h, body, now, nil},
		"wrong secret":  {"other", h, body, now, events.ErrBadSignature},
		"changed body":  {secret, h, []byte(`{"id":"e2"}`), now, events.ErrBadSignature},
		"stale":         {secret, h, body, now.Add(10 * time.Minute), events.ErrStale},
		"no header":     {secret, "", body, now, events.ErrNoSignature},
		"no signature":  {secret, "t=1800000000", body, now, events.ErrNoSignature},
		"time replaced": {secret, "t=1800000001," + h[len("t=1800000000,"):], body, now, events.ErrBadSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := events.Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute); err != tc.want {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestBindingWebhook: an event naming a binding's own webhook goes there
// when the pool's webhook takes it (BindingURLs), else to the pool's.
func TestBindingWebhook(t *testing.T) {
	db := openStore(t, "")
	pool, own := testkit.NewWebhook(t, verifier), testkit.NewWebhook(t, verifier)
	w := events.Webhook{URL: pool.URL, Secret: secret, BindingURLs: []string{own.URL + "/"}}
	if err := w.Check(); err != nil {
		t.Fatal(err)
	}
	routes := func(_, override string) (events.Webhook, bool) { return w.For(override), true }
	for i, override := range []string{own.URL + "/b1", "https://elsewhere.example/b2", ""} {
		id, _ := store.NewEventID(time.Now())
		body, _ := json.Marshal(map[string]any{"id": id, "stream": fmt.Sprint("s", i), "n": 0})
		ev := store.Event{ID: id, Type: "call.test", Stream: fmt.Sprint("s", i), Pool: "p", Webhook: override, At: time.Now(), Body: body}
		if err := db.QueueCall(context.Background(), store.CallChange{Events: []store.Event{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	run(t, events.NewDispatcher(db, routes))
	if got := decode(t, own.WaitAccepted(t, 1, 10*time.Second)); got[0].Stream != "s0" {
		t.Errorf("the binding's webhook got %+v", got)
	}
	got := decode(t, pool.WaitAccepted(t, 2, 10*time.Second))
	if len(got) != 2 || got[0].Stream == "s0" || got[1].Stream == "s0" {
		t.Errorf("the pool's webhook got %+v", got)
	}
	for _, p := range own.Posts() {
		if p.VerifyErr != nil {
			t.Errorf("the binding's delivery not signed with the pool's secret: %v", p.VerifyErr)
		}
	}
	for _, bad := range []string{"https://platform.example", "ftp://x/", "https:///path"} {
		if err := (events.Webhook{URL: pool.URL, BindingURLs: []string{bad}}).Check(); err == nil {
			t.Errorf("binding_urls %q accepted", bad)
		}
	}
}
