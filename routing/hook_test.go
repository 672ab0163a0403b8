package routing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// fakeHook answers as told, or waits past the deadline.
type fakeHook struct {
	ans   HookAnswer
	err   error
	slow  bool
	asked []HookQuery
}

func (h *fakeHook) Route(ctx context.Context, q HookQuery) (HookAnswer, error) {
	h.asked = append(h.asked, q)
	if h.slow {
		<-ctx.Done()
		return HookAnswer{}, ctx.Err()
	}
	return h.ans, h.err
}

// TestRoutingHook: a call no binding on a pool number answers goes where
// the pool's hook says; a slow, failing or unusable hook is the pool's
// unknown-caller policy, and the decision says why.
func TestRoutingHook(t *testing.T) {
	const x, caller = "8617000000001", "8613500000005"
	db, clock := openStore(t, x)
	ctx := t.Context()
	hookAt := func(timeout time.Duration) {
		t.Helper()
		if err := db.SetPoolSettings(ctx, "default", store.PoolSettings{
			RoutingHook:   store.RoutingHook{URL: "http://127.0.0.1:1/hook", Timeout: timeout},
			UnknownCaller: store.UnknownCaller{Action: store.UnknownReject, Code: 486},
		}); err != nil {
			t.Fatal(err)
		}
	}
	hookAt(50 * time.Millisecond)
	for _, tc := range []struct {
		name   string
		hook   fakeHook
		action Action
		code   int
		callee string
		shown  string
		hooked string
		limit  int
	}{
		{"connect", fakeHook{ans: HookAnswer{Action: HookConnect, To: "13900000002", MaxCallSeconds: 300}}, Bridge, 0, "8613900000002", x, HookConnect, 300},
		{"connect with a display", fakeHook{ans: HookAnswer{Action: HookConnect, To: "+8613900000002", Display: "8617000000009"}}, Bridge, 0, "8613900000002", "8617000000009", HookConnect, 0},
		{"reject", fakeHook{ans: HookAnswer{Action: HookReject, Code: 403}}, Reject, 403, "", "", HookReject, 0},
		{"slow", fakeHook{slow: true}, Reject, 486, "", "", HookTimeout, 0},
		{"failing", fakeHook{err: errors.New("connection refused")}, Reject, 486, "", "", HookFailed, 0},
		{"connect to nobody", fakeHook{ans: HookAnswer{Action: HookConnect}}, Reject, 486, "", "", HookBadAnswer, 0},
		{"connect back to the caller", fakeHook{ans: HookAnswer{Action: HookConnect, To: caller}}, Reject, 486, "", "", HookBadAnswer, 0},
		{"reject without a code", fakeHook{ans: HookAnswer{Action: HookReject, Code: 200}}, Reject, 486, "", "", HookBadAnswer, 0},
		{"an action of its own", fakeHook{ans: HookAnswer{Action: "forward"}}, Reject, 486, "", "", HookBadAnswer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.hook
			r := NewRouter(db, WithClock(clock.Now), WithHook(&h))
			d := r.Route(ctx, Call{Caller: caller, Dialled: x})
			if d.Action != tc.action || d.Code != tc.code || d.Callee != tc.callee || d.Hook != tc.hooked ||
				tc.shown != "" && d.Display != tc.shown || d.Binding.Policy.MaxCallSeconds != tc.limit {
				t.Fatalf("decision %v %d (%s) callee %q shown %q hook %q limit %d", d.Action, d.Code, d.Reason, d.Callee, d.Display, d.Hook, d.Binding.Policy.MaxCallSeconds)
			}
			if len(h.asked) != 1 || h.asked[0] != (HookQuery{URL: "http://127.0.0.1:1/hook", Pool: "default", X: x, Caller: caller}) {
				t.Fatalf("hook asked %+v", h.asked)
			}
			if tc.action == Bridge && (d.Binding.ID != "" || d.Pool != "default") {
				t.Fatalf("a hooked call's binding %+v pool %q", d.Binding, d.Pool)
			}
		})
	}

	// A pool without a hook, and a caller with a binding, never ask it.
	h := fakeHook{ans: HookAnswer{Action: HookConnect, To: "13900000002"}}
	r := NewRouter(db, WithClock(clock.Now), WithHook(&h))
	if _, _, err := db.CreateBinding(ctx, store.NewBinding{Pool: "default", A: caller, B: "8613900000003", ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if d := r.Route(ctx, Call{Caller: caller, Dialled: x}); d.Callee != "8613900000003" || d.Hook != "" {
		t.Errorf("a bound caller: callee %q hook %q", d.Callee, d.Hook)
	}
	if err := db.SetPoolSettings(ctx, "default", store.PoolSettings{}); err != nil {
		t.Fatal(err)
	}
	if d := r.Route(ctx, Call{Caller: "8613500000006", Dialled: x}); d.Code != 404 || d.Hook != "" {
		t.Errorf("a pool without a hook: %d hook %q", d.Code, d.Hook)
	}
	if len(h.asked) != 0 {
		t.Errorf("the hook was asked %d times", len(h.asked))
	}
}
