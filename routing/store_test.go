package routing

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
	"github.com/xbridge/xbridge/store/storetest"
)

// TestRouteWithStore routes over the real bbolt store: live, unknown,
// deleted (quarantined) and expired-but-not-swept bindings.
func TestRouteWithStore(t *testing.T) {
	// The sweeper never runs within the test, so an expired binding is
	// still in the store and Route must notice the expiry itself.
	db, clock := openStore(t, "8617000000001")
	ctx := t.Context()
	live, _, err := db.CreateBinding(ctx, store.NewBinding{Pool: "default", A: "8613800000001", B: "8613900000002", ExpiresAt: clock.Now().Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	gone, _, err := db.CreateBinding(ctx, store.NewBinding{Pool: "default", A: "8613600000004", B: "8613700000003", ExpiresAt: clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteBinding(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}

	r := NewRouter(db, WithClock(clock.Now), WithTrusted(netip.MustParsePrefix("127.0.0.1/32")))
	src := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name    string
		advance time.Duration
		call    Call
		code    int
		callee  string
		binding string
	}{
		{"a dials x", 0, Call{Caller: "+8613800000001", Dialled: "tel:+86-170-0000-0001", Source: src}, 0, "8613900000002", live.ID},
		{"b dials x nationally", 0, Call{Caller: "13900000002", Dialled: "017000000001", Source: src}, 0, "8613800000001", live.ID},
		{"stranger", 0, Call{Caller: "13500000005", Dialled: "8617000000001", Source: src}, 404, "", ""},
		{"deleted binding", 0, Call{Caller: "8613600000004", Dialled: "8617000000001", Source: src}, 480, "", ""},
		{"untrusted", 0, Call{Caller: "8613800000001", Dialled: "8617000000001", Source: netip.MustParseAddr("127.0.0.2")}, 403, "", ""},
		{"expired", 10 * time.Minute, Call{Caller: "8613800000001", Dialled: "8617000000001", Source: src}, 480, "", live.ID},
	}
	for _, tt := range tests {
		clock.Advance(tt.advance)
		d := r.Route(ctx, tt.call)
		if d.Code != tt.code || d.Callee != tt.callee {
			t.Errorf("%s: code %d callee %q (%s), want %d %q", tt.name, d.Code, d.Callee, d.Reason, tt.code, tt.callee)
		}
		if tt.binding != "" && d.Binding.ID != tt.binding {
			t.Errorf("%s: binding %q, want %q", tt.name, d.Binding.ID, tt.binding)
		}
		if tt.code == 0 && (d.Action != Bridge || d.Display != "8617000000001") {
			t.Errorf("%s: action %v display %q", tt.name, d.Action, d.Display)
		}
	}
}

// TestRouteModelsWithStore: AXN beside AXB and an AXE with its callback,
// over the real store.
func TestRouteModelsWithStore(t *testing.T) {
	const xn, xe = "8617000000001", "8617000000002"
	db, clock := openStore(t, xn, xe)
	ctx := t.Context()
	exp := clock.Now().Add(time.Hour)
	mk := func(nb store.NewBinding) store.Binding {
		t.Helper()
		nb.Pool, nb.ExpiresAt = "default", exp
		b, _, err := db.CreateBinding(ctx, nb)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	axn := mk(store.NewBinding{Model: store.ModelAXN, X: xn, A: "8613800000001", B: "8613900000002"})
	pair := mk(store.NewBinding{X: xn, A: "8613800000003", B: "8613900000004", Policy: store.Policy{Direction: store.DirectionAToB}})
	axe := mk(store.NewBinding{Model: store.ModelAXE, X: xe, A: "8613800000005"})

	r := NewRouter(db, WithClock(clock.Now), WithInlineNotes())
	src := netip.MustParseAddr("127.0.0.1")
	const courier = "8613100000009"
	for _, tt := range []struct {
		name   string
		call   Call
		action Action
		code   int
		callee string
	}{
		{"axn a", Call{Caller: axn.A, Dialled: xn}, Bridge, 0, axn.B},
		{"axn stranger", Call{Caller: courier, Dialled: xn}, Bridge, 0, axn.A},
		{"axb beside axn", Call{Caller: pair.A, Dialled: xn}, Bridge, 0, pair.B},
		{"axb refused direction", Call{Caller: pair.B, Dialled: xn}, Reject, 403, ""},
		{"axe a before any caller", Call{Caller: axe.A, Dialled: xe}, Announce, 404, ""},
		{"axe stranger", Call{Caller: courier, Dialled: xe}, Collect, 0, ""},
		{"axe digits after x", Call{Caller: courier, Dialled: xe + axe.Extension}, Bridge, 0, axe.A},
		{"axe a calls back", Call{Caller: axe.A, Dialled: xe}, Bridge, 0, courier},
	} {
		tt.call.Source = src
		d := r.Route(ctx, tt.call)
		if d.Action != tt.action || d.Code != tt.code || d.Callee != tt.callee {
			t.Errorf("%s: %v %d to %q (%s, %v), want %v %d to %q", tt.name, d.Action, d.Code, d.Callee, d.Reason, d.Err, tt.action, tt.code, tt.callee)
		}
		checkOutcome(t, d)
		if want := map[string]string{"axb refused direction": store.OutcomeDirection, "axe a before any caller": store.OutcomeNoCallback}[tt.name]; want != "" && d.Outcome != want {
			t.Errorf("%s: outcome %q, want %q", tt.name, d.Outcome, want)
		}
		if d.Action == Collect && d.ExtensionLength != len(axe.Extension) {
			t.Errorf("%s: collect %d digits, extension has %d", tt.name, d.ExtensionLength, len(axe.Extension))
		}
	}
	d := r.RouteExtension(ctx, Call{Caller: courier, Dialled: xe, Source: src}, axe.Extension)
	if d.Action != Bridge || d.Callee != axe.A || d.Display != xe || d.Err != nil {
		t.Fatalf("RouteExtension = %+v", d)
	}
	// The callback window closes (default 24 h).
	clock.Advance(25 * time.Hour)
	if d := r.Route(ctx, Call{Caller: axe.A, Dialled: xe, Source: src}); d.Code != 480 {
		t.Fatalf("after expiry: %v %d (%s)", d.Action, d.Code, d.Reason)
	}
}

// openStore opens a real store whose sweeper never runs within a test, with
// numbers in pool "default".
func openStore(t *testing.T, numbers ...string) (*store.DB, *storetest.Clock) {
	t.Helper()
	return openStoreWith(t, []store.Option{store.WithQuarantine(time.Hour), store.WithSweepInterval(time.Hour)}, numbers...)
}

// openStoreWith is openStore with the store's options (the clock is the
// test's).
func openStoreWith(t *testing.T, opts []store.Option, numbers ...string) (*store.DB, *storetest.Clock) {
	t.Helper()
	clock := storetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	db, err := store.Open(filepath.Join(t.TempDir(), "xbridge.db"), append([]store.Option{store.WithClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.AddNumbers(t.Context(), "default", numbers); err != nil {
		t.Fatal(err)
	}
	return db, clock
}

// TestUnknownCallerPolicy: a call on a pool number that no binding
// answers follows the pool's policy: its reject status, or an
// announcement; a number of no pool is a plain 404.
func TestUnknownCallerPolicy(t *testing.T) {
	const x = "8617000000001"
	db, clock := openStore(t, x)
	r := NewRouter(db, WithClock(clock.Now))
	ctx := t.Context()
	call := Call{Caller: "8613800000009", Dialled: x}
	set := func(u store.UnknownCaller) {
		t.Helper()
		if err := db.SetPoolSettings(ctx, "default", store.PoolSettings{UnknownCaller: u}); err != nil {
			t.Fatal(err)
		}
	}
	if d := r.Route(ctx, call); d.Action != Reject || d.Code != 404 {
		t.Errorf("default policy: %v %d, want reject 404", d.Action, d.Code)
	}
	set(store.UnknownCaller{Action: store.UnknownReject, Code: 480})
	if d := r.Route(ctx, call); d.Action != Reject || d.Code != 480 {
		t.Errorf("reject 480: %v %d", d.Action, d.Code)
	}
	set(store.UnknownCaller{Action: store.UnknownAnnounce})
	if d := r.Route(ctx, call); d.Action != Announce || d.Prompt != PromptUnknownNumber || d.Code != 404 {
		t.Errorf("announce: %v %q %d, want announce %q (404 without an ivr)", d.Action, d.Prompt, d.Code, PromptUnknownNumber)
	}
	set(store.UnknownCaller{Action: store.UnknownAnnounce, Prompt: "goodbye"})
	if d := r.Route(ctx, call); d.Action != Announce || d.Prompt != "goodbye" {
		t.Errorf("announce goodbye: %v %q", d.Action, d.Prompt)
	}
	if d := r.Route(ctx, Call{Caller: "8613800000009", Dialled: "8617000000099"}); d.Action != Reject || d.Code != 404 {
		t.Errorf("a number of no pool: %v %d, want reject 404", d.Action, d.Code)
	}
}

// TestPoolSettingsReachRouting: the menu collects as many digits as the
// pool's extension length says.
func TestPoolSettingsReachRouting(t *testing.T) {
	const x = "8617000000001"
	db, clock := openStore(t, x)
	ctx := t.Context()
	if err := db.SetPoolSettings(ctx, "default", store.PoolSettings{ExtensionLength: 6}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateBinding(ctx, store.NewBinding{Model: store.ModelAXE, Pool: "default", X: x, A: "8613800000001", ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d := NewRouter(db, WithClock(clock.Now)).Route(ctx, Call{Caller: "8613700000007", Dialled: x})
	if d.Action != Collect || d.ExtensionLength != 6 {
		t.Errorf("got %v with extension length %d, want collect 6", d.Action, d.ExtensionLength)
	}
}
