package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

func (e *env) axn(a, b string) store.NewBinding {
	nb := e.req(a, b)
	nb.Model = store.ModelAXN
	return nb
}

func (e *env) axe(a, ext string) store.NewBinding {
	nb := e.req(a, "")
	nb.Model, nb.Extension = store.ModelAXE, ext
	return nb
}

func (e *env) resolve(x, caller string, want store.Match, wantID string, wantErr error) store.Resolution {
	e.t.Helper()
	res, err := e.s.Resolve(e.ctx, x, caller)
	if !errors.Is(err, wantErr) {
		e.t.Fatalf("Resolve(%s, %s) error = %v, want %v", x, caller, err, wantErr)
	}
	if res.Match != want || res.Binding.ID != wantID {
		e.t.Fatalf("Resolve(%s, %s) = match %d binding %q, want %d %q", x, caller, res.Match, res.Binding.ID, want, wantID)
	}
	return res
}

func (e *env) extension(x, ext string, wantID string, wantErr error) {
	e.t.Helper()
	b, err := e.s.LookupExtension(e.ctx, x, ext)
	if !errors.Is(err, wantErr) || b.ID != wantID {
		e.t.Fatalf("LookupExtension(%s, %s) = %q, %v; want %q, %v", x, ext, b.ID, err, wantID, wantErr)
	}
}

// testAXNWithAXB: an AXN takes X's any-caller slot; AXB pairs on the same X
// still reach their counterparts; the reuse rule spans the models.
func testAXNWithAXB(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	n := e.create(e.axn("13800000001", "13900000001"))
	if n.Model != store.ModelAXN || n.X != x || n.B != "13900000001" {
		t.Fatalf("AXN created as %+v", n)
	}
	p := e.create(e.req("13800000002", "13900000002"))
	e.resolve(x, n.A, store.MatchPair, n.ID, nil)
	e.resolve(x, n.B, store.MatchPair, n.ID, nil)
	e.resolve(x, p.A, store.MatchPair, p.ID, nil)
	res := e.resolve(x, "13700000009", store.MatchAnyCaller, n.ID, nil)
	if res.Pool != pool {
		t.Fatalf("resolution pool %q", res.Pool)
	}
	// Lookup still answers pairs only.
	e.lookup(x, n.A, n, nil)
	e.lookup(x, "13700000009", store.Binding{}, store.ErrNotFound)
	// One AXN per X, and no AXE beside it.
	e.createErr(e.axn("13800000003", ""), store.ErrNoNumber)
	e.createErr(withX(e.axn("13800000003", ""), x), store.ErrSlotTaken)
	e.createErr(withX(e.axe("13800000003", ""), x), store.ErrSlotTaken)
	// The AXN's parties are parties of X: no AXB may take them there.
	e.createErr(withX(e.req(n.A, "13700000001"), x), store.ErrPartyBusy)
	e.createErr(withX(e.req("13700000001", n.B), x), store.ErrPartyBusy)
	// A B-less AXN on another number.
	e.numbers(pool, "1700000002")
	solo := e.create(e.axn("13800000004", ""))
	if solo.X != "1700000002" || solo.B != "" {
		t.Fatalf("B-less AXN %+v", solo)
	}
	e.resolve(solo.X, solo.A, store.MatchPair, solo.ID, nil)
	// After delete the slot frees; the AXN's A is quarantined like a pair.
	if _, err := e.s.DeleteBinding(e.ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	e.resolve(x, n.A, store.MatchNone, "", store.ErrEnded)
	res = e.resolve(x, "13700000009", store.MatchNone, "", store.ErrNotFound)
	if res.Pool != pool {
		t.Fatalf("a miss on a pool number gives pool %q", res.Pool)
	}
	e.resolve("1799999999", "13700000009", store.MatchNone, "", store.ErrNotFound)
	e.create(withX(e.axn("13800000005", ""), x))
}

// testAXE: extensions are allocated at random with the pool's length,
// unique among live and quarantined ones; AXE excludes AXN on one X.
func testAXE(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	given := e.create(e.axe("13800000000", "0042"))
	if given.Model != store.ModelAXE || given.Extension != "0042" || given.B != "" {
		t.Fatalf("AXE created as %+v", given)
	}
	seen := map[string]bool{given.Extension: true}
	var prev, steps int
	for i := range 30 {
		b := e.create(e.axe(fmt.Sprintf("1380000%04d", i+1), ""))
		if len(b.Extension) != 4 || seen[b.Extension] {
			t.Fatalf("allocated extension %q (seen %v)", b.Extension, seen[b.Extension])
		}
		seen[b.Extension] = true
		n, err := strconv.Atoi(b.Extension)
		if err != nil {
			t.Fatalf("extension %q: %v", b.Extension, err)
		}
		if i > 0 && n == prev+1 {
			steps++
		}
		prev = n
		e.extension(x, b.Extension, b.ID, nil)
	}
	if steps > 5 {
		t.Fatalf("%d of 30 extensions followed the one before: sequential, not random", steps)
	}
	res := e.resolve(x, "13700000009", store.MatchExtensions, "", nil)
	if res.Settings.ExtensionLength != 4 || res.Pool != pool {
		t.Fatalf("extension resolution %+v", res)
	}
	res = e.resolve(x, given.A, store.MatchPair, given.ID, nil)
	if res.LastCaller != "" || !res.LastCallerAt.IsZero() {
		t.Fatalf("nobody called yet, resolution says %q at %v", res.LastCaller, res.LastCallerAt)
	}
	e.createErr(withX(e.axe("13800009999", "0042"), x), store.ErrExtensionTaken)
	e.createErr(withX(e.axn("13800009999", ""), x), store.ErrSlotTaken)
	e.createErr(e.axn("13800009999", ""), store.ErrNoNumber)
	e.createErr(withX(e.axe(given.A, ""), x), store.ErrPartyBusy)
	// An extension nobody holds: 9999 unless the 30 random ones took it
	// (three runs in a thousand did).
	free := 9999
	for seen[strconv.Itoa(free)] {
		free--
	}
	e.extension(x, strconv.Itoa(free), "", store.ErrNotFound)

	// Released, the extension is quarantined: not found for callers, not
	// given again; and it keeps an AXN off X.
	if _, err := e.s.DeleteBinding(e.ctx, given.ID); err != nil {
		t.Fatal(err)
	}
	e.extension(x, "0042", "", store.ErrEnded)
	e.createErr(withX(e.axe("13800009999", "0042"), x), store.ErrExtensionTaken)
	e.clock.Advance(e.cfg.Quarantine + time.Second)
	e.extension(x, "0042", "", store.ErrNotFound)
	again := e.create(withX(e.axe("13800009999", "0042"), x))
	e.extension(x, "0042", again.ID, nil)
}

// testAXNWaitsForQuarantinedExtensions: an X whose extensions are all
// released still belongs to the old couriers' parcels until the cool-down
// ends.
func testAXNWaitsForQuarantinedExtensions(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	b := e.create(e.axe("13800000001", ""))
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.createErr(withX(e.axn("13800000002", ""), x), store.ErrSlotTaken)
	e.clock.Advance(e.cfg.Quarantine + time.Second)
	e.create(withX(e.axn("13800000002", ""), x))
}

// testNoteCaller: the last caller of an AXE binding comes back with A's
// resolution; only AXE bindings take callers.
func testNoteCaller(t *testing.T, e *env) {
	e.numbers(pool, "1700000001", "1700000002")
	b := e.create(e.axe("13800000001", ""))
	at := start.Add(time.Minute)
	for _, c := range []string{"13700000001", "13700000002"} {
		if err := e.s.NoteCaller(e.ctx, b.ID, c, at); err != nil {
			t.Fatalf("NoteCaller: %v", err)
		}
	}
	res := e.resolve(b.X, b.A, store.MatchPair, b.ID, nil)
	if res.LastCaller != "13700000002" || !res.LastCallerAt.Equal(at) {
		t.Fatalf("last caller %q at %v, want 13700000002 at %v", res.LastCaller, res.LastCallerAt, at)
	}
	if res.Settings.CallbackWindow <= 0 {
		t.Fatalf("no callback window in %+v", res.Settings)
	}
	axb := e.create(e.req("13800000002", "13900000002"))
	if err := e.s.NoteCaller(e.ctx, axb.ID, "13700000001", at); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("NoteCaller on AXB: %v, want ErrInvalid", err)
	}
	if err := e.s.NoteCaller(e.ctx, "b-unknown", "13700000001", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("NoteCaller on unknown: %v, want ErrNotFound", err)
	}
	if err := e.s.NoteCaller(e.ctx, b.ID, "13x", at); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("NoteCaller with bad caller: %v, want ErrInvalid", err)
	}
	// A new A on the binding has nobody to call back either.
	moved, err := e.s.UpdateBinding(e.ctx, b.ID, store.Patch{A: ptr("13800000009")})
	if err != nil {
		t.Fatal(err)
	}
	if res := e.resolve(b.X, moved.A, store.MatchPair, b.ID, nil); res.LastCaller != "" {
		t.Fatalf("new A inherited the old A's caller %q", res.LastCaller)
	}
	b = moved
	// A new binding on the same extension starts with nobody to call back.
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(e.cfg.Quarantine + time.Second)
	again := e.create(withX(e.axe(b.A, b.Extension), b.X))
	if res := e.resolve(b.X, b.A, store.MatchPair, again.ID, nil); res.LastCaller != "" {
		t.Fatalf("new binding inherited caller %q", res.LastCaller)
	}
}

// testBadModels: malformed models and policies write nothing.
func testBadModels(t *testing.T, e *env) {
	e.numbers(pool, "1700000001")
	long := make([]byte, 2<<10+1)
	for i := range long {
		long[i] = 'u'
	}
	pol := func(nb store.NewBinding, p store.Policy) store.NewBinding { nb.Policy = p; return nb }
	tests := map[string]store.NewBinding{
		"unknown model":        func() store.NewBinding { nb := e.req("13800000001", "13900000001"); nb.Model = "AXQ"; return nb }(),
		"axb without b":        e.req("13800000001", ""),
		"axe with b":           func() store.NewBinding { nb := e.axe("13800000001", ""); nb.B = "13900000001"; return nb }(),
		"extension on axb":     func() store.NewBinding { nb := e.req("13800000001", "13900000001"); nb.Extension = "1234"; return nb }(),
		"extension not digits": e.axe("13800000001", "12a4"),
		"extension too long":   e.axe("13800000001", "1234567"),
		"extension wrong size": e.axe("13800000001", "123"),
		"axn a is b":           e.axn("13800000001", "13800000001"),
		"direction unknown":    pol(e.req("13800000001", "13900000001"), store.Policy{Direction: "up"}),
		"direction on axe":     pol(e.axe("13800000001", ""), store.Policy{Direction: store.DirectionAToB}),
		"max negative":         pol(e.req("13800000001", "13900000001"), store.Policy{MaxCallSeconds: -1}),
		"warn without max":     pol(e.req("13800000001", "13900000001"), store.Policy{WarnSeconds: 10}),
		"warn not below max":   pol(e.req("13800000001", "13900000001"), store.Policy{MaxCallSeconds: 60, WarnSeconds: 60}),
		"display unknown":      pol(e.req("13800000001", "13900000001"), store.Policy{CallerDisplay: "b"}),
		"display real refused": pol(e.req("13800000001", "13900000001"), store.Policy{CallerDisplay: store.DisplayReal}),
		"user data too long":   pol(e.req("13800000001", "13900000001"), store.Policy{UserData: string(long)}),
		"area match unknown":   func() store.NewBinding { nb := e.req("13800000001", "13900000001"); nb.AreaMatch = "near"; return nb }(),
	}
	for name, nb := range tests {
		t.Run(name, func(t *testing.T) { e.createErr(nb, store.ErrInvalid) })
	}
	if all := e.list(store.Filter{}); len(all) != 0 {
		t.Fatalf("bad requests wrote %+v", all)
	}
	e.wantPool(pool, 1, 0, 0)
}

// testPolicyStored: a policy given at create comes back from every read.
func testPolicyStored(t *testing.T, e *env) {
	e.numbers(pool, "1700000001")
	nb := e.req("13800000001", "13900000001")
	nb.Policy = store.Policy{Direction: store.DirectionBToA, MaxCallSeconds: 600, WarnSeconds: 60, CallerDisplay: store.DisplayX, Record: true, UserData: "parcel 7"}
	b := e.create(nb)
	if b.Policy != nb.Policy {
		t.Fatalf("policy %+v, want %+v", b.Policy, nb.Policy)
	}
	got, err := e.s.GetBinding(e.ctx, b.ID)
	if err != nil || got != b {
		t.Fatalf("GetBinding = %+v, %v", got, err)
	}
	e.lookup(b.X, b.A, b, nil)
}
