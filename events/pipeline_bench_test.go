package events_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/store"
)

// BenchmarkCallPipeline is what the events cost an engine per call, all of
// it: one answered call's record and active-call record through a real
// store ("records", a pool with no webhook), and with them its four events
// queued, committed, read by the dispatcher, signed, POSTed in batches of
// 100 to a receiver on 127.0.0.1 and removed ("webhook"). It reports the
// process's CPU time per call (cpu-µs/call: user plus system, the
// receiver's included, which only reads the bodies), measured after the
// outbox has drained, so the flushes and the deliveries are all counted.
// The calls are paced at pipelineRate: run it with -benchtime 10000x.
// Compare the two in one run: the difference is the webhook's cost.
func BenchmarkCallPipeline(b *testing.B) {
	for _, hook := range []bool{false, true} {
		name := "records"
		if hook {
			name = "webhook"
		}
		b.Run(name, func(b *testing.B) { benchPipeline(b, hook) })
	}
}

func benchPipeline(b *testing.B, hook bool) {
	db, err := store.Open(filepath.Join(b.TempDir(), "xbridge.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hookOf := events.Webhook{URL: srv.URL, Secret: secret, Batch: 100}
	d := events.NewDispatcher(db, func(string, string) (events.Webhook, bool) { return hookOf, true })
	go func() { _ = d.Run(ctx) }()
	wants := func(string) bool { return hook }

	route := events.Route{BindingID: "b01hxyzabcdefghjkmnpqrstvw", Model: store.ModelAXB, OrderID: "order-123456", UserData: `{"shop":"s1"}`,
		Pool: "default", CallerRole: "A", Callee: "8613900000002", CalleeRole: "B", Display: "8617000000001"}
	start, t0 := cpuTime(), time.Now()
	n := 0
	for b.Loop() {
		// Paced as a loaded engine sees its calls: a flush then commits
		// about 200 calls, not everything a tight loop could queue.
		if wait := time.Until(t0.Add(time.Duration(n) * time.Second / pipelineRate)); wait > 0 {
			time.Sleep(wait)
		}
		at := time.Now()
		id := fmt.Sprintf("b%d@xbridge", n)
		c, err := events.Begin(ctx, db, events.Start{ACallID: fmt.Sprintf("a%d@carrier.example", n), X: "8617000000001", Caller: "8613800000001", At: at}, wants)
		if err != nil {
			b.Fatal(err)
		}
		must(b, c.Routed(route, id, at))
		must(b, c.Ringing(at))
		must(b, c.Answered(at, &store.ActiveCall{ID: id, BindingID: route.BindingID, AnsweredAt: at, Legs: [2]store.DialogLeg{
			{CallID: "a" + id, LocalTag: "t1", RemoteTag: "t2", LocalURI: "sip:8617000000001@127.0.0.1", RemoteURI: "sip:8613800000001@127.0.0.1", RemoteTarget: "sip:8613800000001@127.0.0.1:5062", NextCSeq: 1, Transport: "UDP"},
			{CallID: id, LocalTag: "t3", RemoteTag: "t4", LocalURI: "sip:8617000000001@127.0.0.1", RemoteURI: "sip:8613900000002@127.0.0.1", RemoteTarget: "sip:8613900000002@127.0.0.1:5064", NextCSeq: 2, Transport: "UDP"},
		}}))
		must(b, c.Released(at, events.Release{By: events.ByCaller, Status: 200, Outcome: store.OutcomeAnswered}, id))
		n++
	}
	// Drained: every event delivered and its removal committed.
	deadline := time.Now().Add(time.Minute)
	for {
		depth, _, err := db.OutboxDepth(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if depth == 0 && d.Stats().Held == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("outbox not drained: %d left", depth)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(3 * store.DefaultCallFlush) // the last removals' commit
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Microsecond)/float64(n), "cpu-µs/call")
	if hook && d.Stats().Delivered < uint64(4*n) {
		b.Fatalf("delivered %d events of %d", d.Stats().Delivered, 4*n)
	}
}

// pipelineRate is the calls per second BenchmarkCallPipeline places.
const pipelineRate = 2000

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
