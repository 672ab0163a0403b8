package routing

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// TestRouteModels: every model and direction, the callback, the extension
// forms and caller_display, by table over a map store.
func TestRouteModels(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const (
		xb, xn, xe = "8617000000001", "8617000000002", "8617000000003"
		a, b       = "8613800000001", "8613900000002"
		na, nb     = "8613800000011", "8613900000012"
		ea, ea2    = "8613800000021", "8613800000022"
		courier    = "8613100000031"
		stranger   = "8613100000099"
	)
	exp := now.Add(time.Hour)
	axb := func(id string, dir store.Direction, display store.CallerDisplay) store.Binding {
		return store.Binding{ID: id, Model: store.ModelAXB, Pool: "p", X: xb, A: a, B: b, ExpiresAt: exp,
			Policy: store.Policy{Direction: dir, CallerDisplay: display, MaxCallSeconds: 300, WarnSeconds: 30}}
	}
	axn := store.Binding{ID: "n1", Model: store.ModelAXN, Pool: "p", X: xn, A: na, B: nb, ExpiresAt: exp}
	axnSolo := store.Binding{ID: "n2", Model: store.ModelAXN, Pool: "p", X: "8617000000004", A: na, ExpiresAt: exp}
	axe := store.Binding{ID: "e1", Model: store.ModelAXE, Pool: "p", X: xe, A: ea, Extension: "1234", ExpiresAt: exp}
	axe2 := store.Binding{ID: "e2", Model: store.ModelAXE, Pool: "p", X: xe, A: ea2, Extension: "0042", ExpiresAt: exp}
	axeOld := axe2
	axeOld.ID, axeOld.A, axeOld.Extension, axeOld.ExpiresAt = "e3", "8613800000023", "7777", now
	src := netip.MustParseAddr("127.0.0.1")

	st := func(dir store.Direction, display store.CallerDisplay) *lookupStore {
		pair := axb("b1", dir, display)
		return &lookupStore{
			bindings: map[[2]string]store.Binding{
				{xb, a}: pair, {xb, b}: pair,
				{xn, na}: axn, {xn, nb}: axn,
				{axnSolo.X, na}: axnSolo,
				{xe, ea}:        axe, {xe, ea2}: axe2,
			},
			any:      map[string]store.Binding{xn: axn, axnSolo.X: axnSolo},
			exts:     map[[2]string]store.Binding{{xe, "1234"}: axe, {xe, "0042"}: axe2, {xe, "7777"}: axeOld},
			pools:    map[string]string{xb: "p", xn: "p", xe: "p", axnSolo.X: "p"},
			settings: store.PoolSettings{ExtensionLength: 4, CallbackWindow: 2 * time.Hour},
			last: map[string][2]string{
				"e1": {courier, now.Add(-time.Hour).Format(time.RFC3339)},
				"e2": {courier, now.Add(-3 * time.Hour).Format(time.RFC3339)},
			},
		}
	}
	tests := []struct {
		name    string
		dir     store.Direction
		display store.CallerDisplay
		call    Call
		action  Action
		code    int
		callee  string
		shown   string // "" means X
		binding string
		noted   string
	}{
		{name: "axb both a", call: Call{Caller: a, Dialled: xb}, action: Bridge, callee: b, binding: "b1"},
		{name: "axb both b", call: Call{Caller: b, Dialled: xb}, action: Bridge, callee: a, binding: "b1"},
		{name: "axb a_to_b from a", dir: store.DirectionAToB, call: Call{Caller: a, Dialled: xb}, action: Bridge, callee: b, binding: "b1"},
		{name: "axb a_to_b from b", dir: store.DirectionAToB, call: Call{Caller: b, Dialled: xb}, code: 403, binding: "b1"},
		{name: "axb b_to_a from a", dir: store.DirectionBToA, call: Call{Caller: a, Dialled: xb}, code: 403, binding: "b1"},
		{name: "axb b_to_a from b", dir: store.DirectionBToA, call: Call{Caller: b, Dialled: xb}, action: Bridge, callee: a, binding: "b1"},
		{name: "axb explicit both", dir: store.DirectionBoth, call: Call{Caller: b, Dialled: xb}, action: Bridge, callee: a, binding: "b1"},
		{name: "axb real display", display: store.DisplayReal, call: Call{Caller: a, Dialled: xb}, action: Bridge, callee: b, shown: a, binding: "b1"},
		{name: "axb x display", display: store.DisplayX, call: Call{Caller: a, Dialled: xb}, action: Bridge, callee: b, binding: "b1"},
		{name: "axb stranger", call: Call{Caller: stranger, Dialled: xb}, code: 404},
		{name: "axn a reaches b", call: Call{Caller: na, Dialled: xn}, action: Bridge, callee: nb, binding: "n1"},
		{name: "axn b reaches a", call: Call{Caller: nb, Dialled: xn}, action: Bridge, callee: na, binding: "n1"},
		{name: "axn anyone reaches a", call: Call{Caller: stranger, Dialled: xn}, action: Bridge, callee: na, binding: "n1"},
		{name: "axn without b", call: Call{Caller: na, Dialled: axnSolo.X}, code: 404, binding: "n2"},
		{name: "axe stranger collects", call: Call{Caller: stranger, Dialled: xe}, action: Collect},
		{name: "axe a calls back", call: Call{Caller: ea, Dialled: xe}, action: Bridge, callee: courier, binding: "e1"},
		{name: "axe callback window over", call: Call{Caller: ea2, Dialled: xe}, action: Announce, code: 404, binding: "e2"},
		{name: "ext param in user", call: Call{Caller: courier, Dialled: "017000000003;ext=1234"}, action: Bridge, callee: ea, binding: "e1", noted: "e1 " + courier},
		{name: "ext param on uri", call: Call{Caller: courier, Dialled: xe, DialledParams: map[string]string{"ext": "0042"}}, action: Bridge, callee: ea2, binding: "e2", noted: "e2 " + courier},
		{name: "postd", call: Call{Caller: courier, Dialled: "tel:+86-170-0000-0003;postd=pp1234#"}, action: Bridge, callee: ea, binding: "e1", noted: "e1 " + courier},
		{name: "isub", call: Call{Caller: courier, Dialled: xe, DialledParams: map[string]string{"isub": "1234"}}, action: Bridge, callee: ea, binding: "e1", noted: "e1 " + courier},
		{name: "digits after x national", call: Call{Caller: courier, Dialled: "170000000031234"}, action: Bridge, callee: ea, binding: "e1", noted: "e1 " + courier},
		{name: "digits after x e164", call: Call{Caller: courier, Dialled: "+86170000000030042"}, action: Bridge, callee: ea2, binding: "e2", noted: "e2 " + courier},
		// A mistyped extension is asked for again, not refused.
		{name: "wrong ext in dialled", call: Call{Caller: courier, Dialled: xe + ";ext=9999"}, action: Collect},
		{name: "expired ext", call: Call{Caller: courier, Dialled: xe + ";ext=7777"}, code: 480, binding: "e3"},
		{name: "own ext", call: Call{Caller: ea, Dialled: xe + ";ext=1234"}, code: 403, binding: "e1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := st(tt.dir, tt.display)
			tt.call.Source = src
			d := NewRouter(s, WithClock(func() time.Time { return now }), WithInlineNotes()).Route(context.Background(), tt.call)
			checkDecision(t, d, tt.action, tt.code, tt.callee, tt.shown, tt.binding)
			if got := strings.Join(s.noted, ","); got != tt.noted {
				t.Errorf("noted callers %q, want %q", got, tt.noted)
			}
			if tt.name == "wrong ext in dialled" && d.Extension != "9999" {
				t.Errorf("collect tries %q first, want the dialled 9999", d.Extension)
			}
			if tt.action == Collect && (d.Pool != "p" || d.ExtensionLength != 4 || d.Dialled != xe) {
				t.Errorf("collect %+v, want pool p, 4 digits on %s", d, xe)
			}
			if tt.action == Announce && d.Prompt != PromptNoCallback {
				t.Errorf("announce prompt %q", d.Prompt)
			}
			if tt.binding == "b1" && d.Binding.Policy.MaxCallSeconds != 300 {
				t.Errorf("decision lost the policy: %+v", d.Binding.Policy)
			}
			for _, n := range []string{a, b, na, nb, ea, ea2, courier} {
				if n != d.Caller && strings.Contains(d.Reason, n) {
					t.Errorf("reason %q leaks %s", d.Reason, n)
				}
			}
		})
	}
}

// TestRouteExtension: the second step of a Collect.
func TestRouteExtension(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const x, a, caller = "8617000000003", "8613800000021", "8613100000031"
	axe := store.Binding{ID: "e1", Model: store.ModelAXE, Pool: "p", X: x, A: a, Extension: "1234", ExpiresAt: now.Add(time.Hour)}
	src := netip.MustParseAddr("127.0.0.1")
	call := Call{Caller: caller, Dialled: "017000000003", Source: src}
	for _, tt := range []struct {
		name, digits string
		action       Action
		code         int
		callee       string
		binding      string
	}{
		{"right", "1234", Bridge, 0, a, "e1"},
		{"wrong", "4321", Reject, 404, "", ""},
		{"not digits", "12*4", Reject, 484, "", ""},
		{"too long", "1234567", Reject, 484, "", ""},
		{"empty", "", Reject, 484, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &lookupStore{exts: map[[2]string]store.Binding{{x, "1234"}: axe}, pools: map[string]string{x: "p"}}
			d := NewRouter(s, WithClock(func() time.Time { return now }), WithInlineNotes()).RouteExtension(context.Background(), call, tt.digits)
			checkDecision(t, d, tt.action, tt.code, tt.callee, "", tt.binding)
			if tt.action == Bridge && (len(s.noted) != 1 || s.noted[0] != "e1 "+caller) {
				t.Errorf("callback not recorded: %v", s.noted)
			}
		})
	}
}

func checkDecision(t *testing.T, d Decision, action Action, code int, callee, shown, binding string) {
	t.Helper()
	if d.Action != action || d.Code != code {
		t.Fatalf("decision %v %d (%s, %v), want %v %d", d.Action, d.Code, d.Reason, d.Err, action, code)
	}
	checkOutcome(t, d)
	if d.Binding.ID != binding {
		t.Errorf("binding %q, want %q", d.Binding.ID, binding)
	}
	if action != Bridge {
		if d.Callee != "" || d.Display != "" {
			t.Errorf("%v carries callee %q display %q", action, d.Callee, d.Display)
		}
		return
	}
	if shown == "" {
		shown = d.Dialled
	}
	if d.Callee != callee || d.Display != shown || d.Dialled != d.Binding.X {
		t.Errorf("bridge to %q showing %q (x %q), want %q showing %q", d.Callee, d.Display, d.Dialled, callee, shown)
	}
}

func TestSplitDialled(t *testing.T) {
	pools := map[string]bool{"17000000003": true, "+8617000000003": true, "1700000000": true}
	isPool := func(s string) bool { return pools[s] }
	for _, tt := range []struct {
		user     string
		params   map[string]string
		num, ext string
	}{
		{"17000000003", nil, "17000000003", ""},
		{"17000000003;ext=1234", nil, "17000000003", "1234"},
		{"17000000003;EXT=12", nil, "17000000003", "12"},
		{"tel:+8617000000003;phone-context=+86;ext=1234", nil, "tel:+8617000000003;phone-context=+86", "1234"},
		{"17000000003;postd=pp1234#", nil, "17000000003", "1234"},
		{"17000000003;postd=,,0042", nil, "17000000003", "0042"},
		{"17000000003;postd=12*4", nil, "17000000003;postd=12*4", ""},
		{"17000000003;isub=1234", nil, "17000000003", "1234"},
		{"17000000003", map[string]string{"ext": "99"}, "17000000003", "99"},
		{"17000000003", map[string]string{"postd": "p5"}, "17000000003", "5"},
		{"17000000003", map[string]string{"ext": "1234567"}, "17000000003", ""},
		{"170000000031234", nil, "17000000003", "1234"},
		{"+86170000000031", nil, "+8617000000003", "1"},
		// The longest prefix that is a pool number wins.
		{"17000000003", nil, "17000000003", ""},
		{"1700000000312", nil, "17000000003", "12"},
		{"17000000003abc", nil, "17000000003abc", ""},
		{"17900000003123", nil, "17900000003123", ""},
	} {
		num, ext := SplitDialled(tt.user, tt.params, isPool)
		if num != tt.num || ext != tt.ext {
			t.Errorf("SplitDialled(%q, %v) = %q, %q; want %q, %q", tt.user, tt.params, num, ext, tt.num, tt.ext)
		}
	}
}

func FuzzSplitDialled(f *testing.F) {
	for _, s := range []string{"17000000003;ext=1234", "170000000031234", "tel:+86;postd=p1#", ";;;=", "1;isub=;ext=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, user string) {
		num, ext := SplitDialled(user, nil, func(s string) bool { return strings.HasPrefix(s, "170") })
		if ext != "" && (!isDigitString(ext) || len(ext) > maxExtensionDigits) {
			t.Fatalf("SplitDialled(%q) gave extension %q", user, ext)
		}
		if ext == "" && num != user {
			t.Fatalf("SplitDialled(%q) changed the number to %q without an extension", user, num)
		}
	})
}
