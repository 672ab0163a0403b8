package b2bua

import (
	"context"
	"testing"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// hookTo is a routing hook that connects every call to one number.
type hookTo struct {
	to    string
	limit int
}

func (h hookTo) Route(context.Context, routing.HookQuery) (routing.HookAnswer, error) {
	return routing.HookAnswer{Action: routing.HookConnect, To: h.to, MaxCallSeconds: h.limit}, nil
}

// TestHookedCall: a caller no binding answers, on a pool whose routing
// hook connects it, reaches the hook's number showing X, is not ended as
// "binding gone" (it has none), and its record says the hook connected
// it.
func TestHookedCall(t *testing.T) {
	te := newTestEngineWith(t, []routing.Option{routing.WithHook(hookTo{to: numB})}, nil, withEvents())
	if _, err := te.store.AddNumbers(context.Background(), "default", []string{numX}); err != nil {
		t.Fatal(err)
	}
	if err := te.store.SetPoolSettings(context.Background(), "default", store.PoolSettings{
		RoutingHook: store.RoutingHook{URL: "http://127.0.0.1:1/hook"}}); err != nil {
		t.Fatal(err)
	}
	_, d, tc := te.answeredCall()
	if got := fromUser(tc.req); got != "+"+numX && got != numX {
		t.Errorf("B was shown %q, want X", got)
	}
	if u := tc.req.Recipient.User; u != "+"+numB && u != numB {
		t.Errorf("B leg to %q, want the hook's number", u)
	}
	// Longer than the engine's checks that a call's binding still exists.
	time.Sleep(300 * time.Millisecond)
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	te.waitIdle()
	got, rec := te.callEvents(sipedge.CallID(d.InviteRequest))
	if !sameTypes(got, events.TypeInitiated, events.TypeRinging, events.TypeAnswered, events.TypeReleased) {
		t.Fatalf("events %v", eventTypes(got))
	}
	if rec.Hook != routing.HookConnect || rec.BindingID != "" || rec.Pool != "default" || rec.Callee != numB ||
		rec.Outcome != store.OutcomeAnswered || rec.ReleasedBy != events.ByCaller {
		t.Errorf("record %+v", rec)
	}
	if got[len(got)-1].Call.Hook != routing.HookConnect {
		t.Errorf("released event without the hook: %+v", got[len(got)-1].Call)
	}
}

// TestHookedCallLimit: the hook's max_call_seconds ends the call.
func TestHookedCallLimit(t *testing.T) {
	te := newTestEngineWith(t, []routing.Option{routing.WithHook(hookTo{to: numB, limit: 1})}, nil, withEvents())
	if _, err := te.store.AddNumbers(context.Background(), "default", []string{numX}); err != nil {
		t.Fatal(err)
	}
	if err := te.store.SetPoolSettings(context.Background(), "default", store.PoolSettings{
		RoutingHook: store.RoutingHook{URL: "http://127.0.0.1:1/hook"}}); err != nil {
		t.Fatal(err)
	}
	car, d, _ := te.answeredCall()
	start := time.Now()
	bye := car.waitBye(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the 1 s limit ended the call after %v", took)
	}
	if r := bye.GetHeader("Reason"); r == nil {
		t.Errorf("BYE without a Reason")
	}
	te.waitIdle()
	if _, rec := te.callEvents(sipedge.CallID(d.InviteRequest)); rec.ReleasedBy != events.ByEngine || rec.Hook != routing.HookConnect {
		t.Errorf("record %+v", rec)
	}
}

// TestBindingWebhookEvents: the events of a call on a binding with its
// own webhook name it, for the dispatcher.
func TestBindingWebhookEvents(t *testing.T) {
	te := newTestEngine(t, withEvents())
	ctx := context.Background()
	if _, err := te.store.AddNumbers(ctx, "default", []string{numX}); err != nil {
		t.Fatal(err)
	}
	const own = "https://platform.example/hooks/o-1"
	if _, _, err := te.store.CreateBinding(ctx, store.NewBinding{Pool: "default", X: numX, A: numA, B: numB,
		Policy: store.Policy{Webhook: own}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, d, _ := te.answeredCall()
	_ = d.Bye(ctx)
	te.waitIdle()
	te.callEvents(sipedge.CallID(d.InviteRequest))
	entries, err := te.store.OutboxAfter(ctx, 0, 100)
	if err != nil || len(entries) != 4 {
		t.Fatalf("outbox %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if e.Webhook != own {
			t.Errorf("%s goes to %q, want the binding's webhook", e.Type, e.Webhook)
		}
	}
}
