package routing

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xbridge/xbridge/number"
	"github.com/xbridge/xbridge/store"
)

// lookupStore is a BindingLookup that answers from maps. The bbolt store is
// tested against the same contract in package store.
type lookupStore struct {
	bindings map[[2]string]store.Binding
	errs     map[[2]string]error
	any      map[string]store.Binding    // x -> AXN
	exts     map[[2]string]store.Binding // (x, extension) -> AXE
	pools    map[string]string           // x -> pool
	settings store.PoolSettings
	last     map[string][2]string // AXE id -> caller, RFC 3339 time
	calls    int
	noted    []string
}

func (s *lookupStore) Resolve(_ context.Context, x, caller string) (store.Resolution, error) {
	s.calls++
	k := [2]string{x, caller}
	res := store.Resolution{Pool: s.pools[x]}
	if err, ok := s.errs[k]; ok {
		res.Binding = s.bindings[k]
		return res, err
	}
	if b, ok := s.bindings[k]; ok {
		res.Match, res.Binding = store.MatchPair, b
		if b.Model == store.ModelAXE {
			res.Settings = s.settings
			if l, ok := s.last[b.ID]; ok {
				at, _ := time.Parse(time.RFC3339, l[1])
				res.LastCaller, res.LastCallerAt = l[0], at
			}
		}
		return res, nil
	}
	if b, ok := s.any[x]; ok {
		res.Match, res.Binding = store.MatchAnyCaller, b
		return res, nil
	}
	for ek := range s.exts {
		if ek[0] == x {
			res.Match, res.Settings = store.MatchExtensions, s.settings
			return res, nil
		}
	}
	return res, store.ErrNotFound
}

func (s *lookupStore) LookupExtension(_ context.Context, x, ext string) (store.Binding, error) {
	s.calls++
	if b, ok := s.exts[[2]string{x, ext}]; ok {
		return b, nil
	}
	return store.Binding{}, store.ErrNotFound
}

func (s *lookupStore) NoteCaller(_ context.Context, id, caller string, _ time.Time) error {
	s.noted = append(s.noted, id+" "+caller)
	return nil
}

func (s *lookupStore) InPool(_ context.Context, x string) (string, bool, error) {
	p, ok := s.pools[x]
	return p, ok, nil
}

func TestRoute(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const (
		x = "8617000000001"
		a = "8613800000001"
		b = "8613900000002"
	)
	live := store.Binding{ID: "b1", Model: store.ModelAXB, Pool: "default", X: x, A: a, B: b, ExpiresAt: now.Add(time.Hour)}
	expired := live
	expired.ExpiresAt = now
	expired.B = "8613700000003"
	ended := live
	ended.ID, ended.B = "b0", "8613600000004"
	shanghai := live // A is a Shanghai fixed line, B a New York number
	shanghai.ID, shanghai.X, shanghai.A, shanghai.B = "b2", "8617000000002", "862125550100", "12125550100"
	us, err := number.LookupCountry("US")
	if err != nil {
		t.Fatal(err)
	}

	st := func() *lookupStore {
		return &lookupStore{
			bindings: map[[2]string]store.Binding{
				{x, a}:                   live,
				{x, b}:                   live,
				{x, "8613700000003"}:     expired,
				{x, "8613600000004"}:     ended,
				{x, "8613500000005"}:     {ID: "broken", X: x, A: a, B: b, ExpiresAt: now.Add(time.Hour)},
				{"8617000000009", a}:     live, // X in the binding differs from the dialled one
				{shanghai.X, shanghai.A}: shanghai,
				{shanghai.X, shanghai.B}: shanghai,
			},
			errs: map[[2]string]error{
				{x, "8613600000004"}: store.ErrEnded,
				{x, "8613400000006"}: errors.New("disk on fire"),
			},
			pools: map[string]string{x: "default", shanghai.X: "default", "8617000000009": "default"},
		}
	}
	trunk := netip.MustParsePrefix("127.0.0.0/24")
	src := netip.MustParseAddr("127.0.0.1")

	tests := []struct {
		name    string
		opts    []Option
		call    Call
		action  Action
		code    int
		reason  string
		callee  string
		binding string
		lookups int
	}{
		{name: "a calls b", call: Call{Caller: "+" + a, Dialled: x, Source: src}, action: Bridge, callee: b, binding: "b1", lookups: 1},
		{name: "b calls a national forms", call: Call{Caller: "13900000002", Dialled: "tel:+86-170-0000-0001", Source: src}, action: Bridge, callee: a, binding: "b1", lookups: 1},
		{name: "trusted source", opts: []Option{WithTrusted(trunk)}, call: Call{Caller: a, Dialled: x, Source: src}, action: Bridge, callee: b, binding: "b1", lookups: 1},
		{name: "trusted v4-mapped source", opts: []Option{WithTrusted(trunk)}, call: Call{Caller: a, Dialled: x, Source: netip.MustParseAddr("::ffff:127.0.0.1")}, action: Bridge, callee: b, binding: "b1", lookups: 1},
		{name: "empty trusted list trusts all", opts: []Option{WithTrusted()}, call: Call{Caller: a, Dialled: x, Source: netip.MustParseAddr("127.0.1.1")}, action: Bridge, callee: b, binding: "b1", lookups: 1},
		{name: "untrusted source", opts: []Option{WithTrusted(trunk)}, call: Call{Caller: a, Dialled: x, Source: netip.MustParseAddr("127.0.1.1")}, code: 403, reason: "source not trusted"},
		{name: "no source with trust list", opts: []Option{WithTrusted(trunk)}, call: Call{Caller: a, Dialled: x}, code: 403, reason: "source not trusted"},
		{name: "dialled not a number", call: Call{Caller: a, Dialled: "voicemail", Source: src}, code: 484, reason: "dialled number invalid: contains letter 'v'"},
		{name: "dialled control byte", call: Call{Caller: a, Dialled: "170\r\n0000", Source: src}, code: 484, reason: "dialled number invalid: contains '?r'"},
		{name: "dialled too short", call: Call{Caller: a, Dialled: "12345", Source: src}, code: 484, reason: "too short"},
		{name: "anonymous caller", call: Call{Caller: "Anonymous", Dialled: x, Source: src}, code: 403, reason: "caller unidentified: withheld number (anonymous)"},
		{name: "empty caller", call: Call{Caller: "", Dialled: x, Source: src}, code: 403, reason: "caller unidentified"},
		{name: "stranger", call: Call{Caller: "8613100000007", Dialled: x, Source: src}, code: 404, reason: "no binding", lookups: 1},
		{name: "ended", call: Call{Caller: "8613600000004", Dialled: x, Source: src}, code: 480, reason: "ended", binding: "b0", lookups: 1},
		{name: "expired not yet swept", call: Call{Caller: "8613700000003", Dialled: x, Source: src}, code: 480, reason: "expired", binding: "b1", lookups: 1},
		{name: "clock before expiry", opts: []Option{WithClock(func() time.Time { return now.Add(-time.Second) })}, call: Call{Caller: "8613700000003", Dialled: x, Source: src}, action: Bridge, callee: a, binding: "b1", lookups: 1},
		{name: "store error", call: Call{Caller: "8613400000006", Dialled: x, Source: src}, code: 500, reason: "lookup failed", lookups: 1},
		{name: "binding without caller", call: Call{Caller: "8613500000005", Dialled: x, Source: src}, code: 500, reason: "does not match", binding: "broken", lookups: 1},
		{name: "binding on other x", call: Call{Caller: a, Dialled: "8617000000009", Source: src}, code: 500, reason: "does not match", binding: "b1", lookups: 1},
		{name: "other default country", opts: []Option{WithCountry(us)}, call: Call{Caller: "13800000001", Dialled: "+" + x, Source: src}, code: 404, reason: "no binding", lookups: 1},
		{name: "nanp caller, not a chinese mobile", call: Call{Caller: "+1 380 000 0001", Dialled: x, Source: src}, code: 404, reason: "no binding", lookups: 1},
		{name: "bare digits are national, not +212", call: Call{Caller: "2125550100", Dialled: shanghai.X, Source: src}, action: Bridge, callee: shanghai.B, binding: "b2", lookups: 1},
		{name: "every valid e164 number", call: Call{Caller: "+1 212 555 0100", Dialled: shanghai.X, Source: src}, action: Bridge, callee: shanghai.A, binding: "b2", lookups: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := st()
			opts := append([]Option{WithClock(func() time.Time { return now })}, tt.opts...)
			d := NewRouter(s, opts...).Route(context.Background(), tt.call)
			if d.Action != tt.action || d.Code != tt.code {
				t.Fatalf("Route = action %v code %d (%q), want action %v code %d", d.Action, d.Code, d.Reason, tt.action, tt.code)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q does not say %q", d.Reason, tt.reason)
			}
			checkOutcome(t, d)
			if d.Binding.ID != tt.binding {
				t.Errorf("binding %q, want %q", d.Binding.ID, tt.binding)
			}
			if s.calls != tt.lookups {
				t.Errorf("%d lookups, want %d", s.calls, tt.lookups)
			}
			switch d.Code {
			case 500, 484:
				if d.Err == nil {
					t.Errorf("code %d without Err", d.Code)
				}
			case 0, 404, 480:
				if d.Err != nil {
					t.Errorf("code %d with Err %v", d.Code, d.Err)
				}
			}
			if tt.action == Bridge {
				if d.Callee != tt.callee || d.Display != d.Dialled || d.Dialled != d.Binding.X {
					t.Errorf("bridge to %q showing %q (dialled %q), want %q showing X", d.Callee, d.Display, d.Dialled, tt.callee)
				}
				if d.Caller == "" || d.Caller == d.Callee {
					t.Errorf("caller %q callee %q", d.Caller, d.Callee)
				}
			} else if d.Callee != "" || d.Display != "" {
				t.Errorf("reject carries callee %q display %q", d.Callee, d.Display)
			}
			for i := 0; i < len(d.Reason); i++ {
				if !reasonPhraseByte(d.Reason[i]) {
					t.Errorf("reason %q holds %q, not allowed in a SIP reason phrase", d.Reason, d.Reason[i])
				}
			}
			// The reason may go back to the caller: it must never hold the
			// other party's number.
			for _, n := range []string{a, b} {
				if n != d.Caller && strings.Contains(d.Reason, n) {
					t.Errorf("reason %q leaks %s", d.Reason, n)
				}
			}
		})
	}
}

// slowLookup answers no lookup before the caller's context ends.
type slowLookup struct{ lookupStore }

func (slowLookup) Resolve(ctx context.Context, _, _ string) (store.Resolution, error) {
	<-ctx.Done()
	return store.Resolution{}, ctx.Err()
}

// TestRouteLookupDeadline: a store that does not answer within the caller's
// deadline is a 503 (try again), not a 500 or a wait without end.
func TestRouteLookupDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	d := NewRouter(&slowLookup{}).Route(ctx, Call{Caller: "8613800000001", Dialled: "8617000000001", Source: netip.MustParseAddr("127.0.0.1")})
	if d.Action != Reject || d.Code != 503 || !errors.Is(d.Err, context.DeadlineExceeded) {
		t.Fatalf("Route = action %v code %d (%q, %v), want reject 503 with the deadline", d.Action, d.Code, d.Reason, d.Err)
	}
}

func TestRouterNormalize(t *testing.T) {
	gb, err := number.LookupCountry("GB")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		country  *number.Country
		in, want string
	}{
		{nil, "17000000001", "8617000000001"}, // default country
		{gb, "07911123456", "447911123456"},
	} {
		got, err := NewRouter(nil, WithCountry(tt.country)).Normalize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%v: Normalize(%q) = %q, %v; want %q", tt.country, tt.in, got, err, tt.want)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	st := &lookupStore{bindings: map[[2]string]store.Binding{
		{"8617000000001", "8613800000001"}: {ID: "b1", X: "8617000000001", A: "8613800000001", B: "8613900000002", ExpiresAt: time.Now().Add(time.Hour)},
	}}
	r := NewRouter(st, WithTrusted(netip.MustParsePrefix("127.0.0.0/8")))
	c := Call{Caller: "+8613800000001", Dialled: "tel:+86-170-0000-0001", Source: netip.MustParseAddr("127.0.0.1")}
	b.ReportAllocs()
	for b.Loop() {
		if d := r.Route(context.Background(), c); d.Action != Bridge {
			b.Fatalf("decision %+v", d)
		}
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{Reject: "reject", Bridge: "bridge", Collect: "collect", Announce: "announce", Action(7): "action(7)"} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", int(a), got, want)
		}
	}
}

// checkOutcome fails a refusal that does not say why in a call record's
// terms, and a bridge or collect that says it was refused.
func checkOutcome(t *testing.T, d Decision) {
	t.Helper()
	refused := d.Action == Reject || d.Action == Announce
	if refused != (d.Outcome != "") {
		t.Errorf("%v %d (%s) has outcome %q", d.Action, d.Code, d.Reason, d.Outcome)
	}
}
