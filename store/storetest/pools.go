package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// runPools runs the pool part of the suite (store.Pools): areas, disabled
// and deleted numbers, paging, settings, and the random spread.
func runPools(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"AreaStrictAndLoose", testAreas},
		{"AreaOfANumberIsFixed", testAreaFixed},
		{"DisabledNumbersSkipped", testDisabled},
		{"DeleteNumber", testDeleteNumber},
		{"DeleteNumberWithoutQuarantine", testDeleteNumberNoQuarantine},
		{"PoolNumbersPages", testPoolNumbers},
		{"PoolInfoCounts", testPoolInfo},
		{"PoolSettings", testPoolSettings},
		{"BadPoolSettingsWriteNothing", testBadPoolSettings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, open, time.Hour, time.Millisecond*10))
		})
	}
}

func (e *env) areaNumbers(pool, area string, numbers ...string) {
	e.t.Helper()
	if _, err := e.s.AddAreaNumbers(e.ctx, pool, area, numbers); err != nil {
		e.t.Fatalf("AddAreaNumbers(%q, %q, %v): %v", pool, area, numbers, err)
	}
}

func party(prefix string, i int) string { return fmt.Sprintf("%s%08d", prefix, i) }

// testAllocationRandom draws 100 bindings of fresh parties from 4 numbers
// and wants every number drawn at least once: an allocator that always
// takes the first, the least loaded or the same number fails. A uniform
// allocator fails only if some number is never drawn:
// P <= 4 * (3/4)^100 = 1.3e-12.
func testAllocationRandom(t *testing.T, e *env) {
	xs := []string{"1700000004", "1700000001", "1700000003", "1700000002"}
	e.numbers(pool, xs...)
	seen := map[string]int{}
	for i := range 100 {
		b := e.create(e.req(party("138", i), party("139", i)))
		seen[b.X]++
	}
	for _, x := range xs {
		if seen[x] == 0 {
			t.Fatalf("%s never drawn in 100 allocations: %v", x, seen)
		}
	}
}

func testAreas(t *testing.T, e *env) {
	e = e.with(0, 10*time.Millisecond) // each case frees what it took
	e.areaNumbers(pool, "010", "1700000101", "1700000102")
	e.areaNumbers(pool, "021", "1700000211")
	e.numbers(pool, "1700000001")
	// A is bound on both 010 numbers: that area is full for A.
	for _, b := range []string{"13900000001", "13900000002"} {
		nb := e.req("13800000001", b)
		nb.Area, nb.AreaMatch = "010", store.AreaStrict
		got := e.create(nb)
		if got.Area != "010" || (got.X != "1700000101" && got.X != "1700000102") {
			t.Fatalf("strict 010 gave x %s area %q", got.X, got.Area)
		}
		if back, err := e.s.GetBinding(e.ctx, got.ID); err != nil || back.Area != "010" {
			t.Fatalf("GetBinding area %q, %v", back.Area, err)
		}
		// Lookup, the call path, may leave the area out.
		if back, err := e.s.Lookup(e.ctx, got.X, b); err != nil || back.ID != got.ID || (back.Area != "" && back.Area != got.Area) {
			t.Fatalf("Lookup = %+v, %v; want %+v", back, err, got)
		}
	}
	tests := []struct {
		name     string
		area     string
		match    store.AreaMatch
		x        string
		err      error
		wantArea []string // the areas the binding may land in
	}{
		{"strict full", "010", store.AreaStrict, "", store.ErrNoAreaNumber, nil},
		{"default is strict", "010", "", "", store.ErrNoAreaNumber, nil},
		{"strict unknown area", "0755", store.AreaStrict, "", store.ErrNoAreaNumber, nil},
		{"loose falls back", "010", store.AreaLoose, "", nil, []string{"021", ""}},
		{"loose unknown area", "0755", store.AreaLoose, "", nil, []string{"021", ""}},
		{"strict other area", "021", store.AreaStrict, "", nil, []string{"021"}},
		{"explicit x of another area, strict", "021", store.AreaStrict, "1700000001", store.ErrNoAreaNumber, nil},
		{"explicit x of another area, loose", "021", store.AreaLoose, "1700000001", nil, []string{""}},
		{"any area", "", "", "", nil, []string{"021", ""}},
		{"bad area", "01x", store.AreaLoose, "", store.ErrInvalid, nil},
		{"bad area_match", "010", "nearby", "", store.ErrInvalid, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb := e.req("13800000001", party("137", i))
			nb.Area, nb.AreaMatch, nb.X = tc.area, tc.match, tc.x
			b, _, err := e.s.CreateBinding(e.ctx, nb)
			if !errors.Is(err, tc.err) {
				t.Fatalf("CreateBinding: %v, want %v", err, tc.err)
			}
			if errors.Is(tc.err, store.ErrNoAreaNumber) && !errors.Is(err, store.ErrNoNumber) {
				t.Fatalf("no number of the area is not ErrNoNumber: %v", err)
			}
			if err != nil {
				return
			}
			ok := false
			for _, a := range tc.wantArea {
				ok = ok || b.Area == a
			}
			if !ok {
				t.Fatalf("binding on x %s area %q, want one of %q", b.X, b.Area, tc.wantArea)
			}
			if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func testAreaFixed(t *testing.T, e *env) {
	e.areaNumbers(pool, "010", "1700000101")
	if _, err := e.s.AddAreaNumbers(e.ctx, pool, "021", []string{"1700000102", "1700000101"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("re-adding in another area: %v, want ErrInvalid", err)
	}
	if n, err := e.s.AddAreaNumbers(e.ctx, pool, "010", []string{"1700000101"}); err != nil || n != 0 {
		t.Fatalf("re-adding in the same area = %d, %v", n, err)
	}
	for _, area := range []string{"1", "075512345", "01a", "-10"} {
		if _, err := e.s.AddAreaNumbers(e.ctx, pool, area, []string{"1700000103"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("area %q: %v, want ErrInvalid", area, err)
		}
	}
	e.wantPool(pool, 1, 0, 0)
}

func testDisabled(t *testing.T, e *env) {
	e.numbers(pool, "1700000001", "1700000002", "1700000003")
	live := e.create(withX(e.req("13800000001", "13900000001"), "1700000002"))
	info, err := e.s.SetNumberDisabled(e.ctx, pool, "1700000002", true)
	if err != nil || !info.Disabled || info.Bindings != 1 {
		t.Fatalf("disable = %+v, %v", info, err)
	}
	// Live bindings run on; new ones never land on the number.
	e.lookup("1700000002", live.A, live, nil)
	for i := range 30 {
		if b := e.create(e.req(party("137", i), party("136", i))); b.X == "1700000002" {
			t.Fatalf("binding %d on the disabled number", i)
		}
	}
	e.createErr(withX(e.req("13500000001", "13500000002"), "1700000002"), store.ErrNumberDisabled)
	if p := e.pool(pool); p.Disabled != 1 || p.Size != 3 {
		t.Fatalf("pool after disable: %+v", p)
	}
	// Disabling twice is no change; enabling brings it back.
	if _, err := e.s.SetNumberDisabled(e.ctx, pool, "1700000002", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SetNumberDisabled(e.ctx, pool, "1700000002", false); err != nil {
		t.Fatal(err)
	}
	e.create(withX(e.req("13500000001", "13500000002"), "1700000002"))
	if p := e.pool(pool); p.Disabled != 0 {
		t.Fatalf("pool after enable: %+v", p)
	}
	// All disabled: nothing to allocate.
	for _, x := range []string{"1700000001", "1700000002", "1700000003"} {
		if _, err := e.s.SetNumberDisabled(e.ctx, pool, x, true); err != nil {
			t.Fatal(err)
		}
	}
	e.createErr(e.req("13400000001", "13400000002"), store.ErrNoNumber)
	if _, err := e.s.SetNumberDisabled(e.ctx, "other", "1700000001", true); !errors.Is(err, store.ErrNotInPool) {
		t.Fatalf("disable in the wrong pool: %v", err)
	}
}

func testDeleteNumber(t *testing.T, e *env) {
	e.areaNumbers(pool, "010", "1700000001", "1700000002")
	b := e.create(withX(e.req("13800000001", "13900000001"), "1700000001"))
	steps := []struct {
		name string
		do   func()
		x    string
		err  error
	}{
		{"live binding", func() {}, "1700000001", store.ErrNumberInUse},
		{"not in the pool", func() {}, "1700000009", store.ErrNotInPool},
		{"quarantined pair", func() {
			if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
				t.Fatal(err)
			}
		}, "1700000001", store.ErrNumberInUse},
		{"quarantine passed", func() { e.clock.Advance(e.cfg.Quarantine + time.Second) }, "1700000001", nil},
		{"gone", func() {}, "1700000001", store.ErrNotInPool},
		{"idle number", func() {}, "1700000002", nil},
	}
	for _, s := range steps {
		s.do()
		if err := e.s.DeleteNumber(e.ctx, pool, s.x); !errors.Is(err, s.err) {
			t.Fatalf("%s: DeleteNumber(%s) = %v, want %v", s.name, s.x, err, s.err)
		}
	}
	if _, ok, err := e.s.InPool(e.ctx, "1700000001"); ok || err != nil {
		t.Fatalf("deleted number still in a pool: %v, %v", ok, err)
	}
	p := e.pool(pool)
	if areas, err := e.s.PoolAreas(e.ctx, pool); p.Size != 0 || p.Quarantined != 0 || len(areas) != 0 || err != nil {
		t.Fatalf("emptied pool: %+v, areas %+v, %v", p, areas, err)
	}
	e.createErr(e.req("13700000001", "13700000002"), store.ErrNoNumber)
	// The number may join again, in any area.
	e.areaNumbers(pool, "021", "1700000001")
	if b := e.create(e.req("13700000001", "13700000002")); b.X != "1700000001" || b.Area != "021" {
		t.Fatalf("re-added number: %+v", b)
	}
}

func testDeleteNumberNoQuarantine(t *testing.T, e *env) {
	e = e.with(0, 10*time.Millisecond)
	e.numbers(pool, "1700000001")
	b := e.create(e.req("13800000001", "13900000001"))
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteNumber(e.ctx, pool, "1700000001"); err != nil {
		t.Fatal(err)
	}
}

func testPoolNumbers(t *testing.T, e *env) {
	var all []string
	for i := range 25 {
		all = append(all, fmt.Sprintf("17000000%02d", i))
	}
	e.areaNumbers(pool, "010", all[:10]...)
	e.numbers(pool, all[10:]...)
	e.numbers("other", "1800000001")
	if _, err := e.s.SetNumberDisabled(e.ctx, pool, all[3], true); err != nil {
		t.Fatal(err)
	}
	var got []store.NumberInfo
	after := ""
	for range 10 {
		page, err := e.s.PoolNumbers(e.ctx, pool, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Number
	}
	if len(got) != len(all) {
		t.Fatalf("paged %d numbers, want %d", len(got), len(all))
	}
	for i, n := range got {
		wantArea := ""
		if i < 10 {
			wantArea = "010"
		}
		if n.Number != all[i] || n.Area != wantArea || n.Disabled != (i == 3) {
			t.Fatalf("number %d = %+v", i, n)
		}
	}
	if _, err := e.s.PoolNumbers(e.ctx, "nopool", "", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("numbers of an unknown pool: %v", err)
	}
}

func testPoolInfo(t *testing.T, e *env) {
	e.areaNumbers(pool, "010", "1700000101", "1700000102")
	e.areaNumbers(pool, "021", "1700000211")
	b := e.create(withX(e.req("13800000001", "13900000001"), "1700000101"))
	e.create(withX(e.req("13800000002", "13900000002"), "1700000211"))
	if _, err := e.s.SetNumberDisabled(e.ctx, pool, "1700000102", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	p := e.pool(pool)
	want := []store.AreaInfo{
		{Area: "010", Size: 2, Enabled: 1, Idle: 1, Bindings: 0},
		{Area: "021", Size: 1, Enabled: 1, Idle: 0, Bindings: 1},
	}
	areas, err := e.s.PoolAreas(e.ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if p != (store.PoolInfo{Name: pool, Size: 3, InUse: 1, Bindings: 1, Disabled: 1, Quarantined: 2, ByModel: store.ModelCounts{AXB: 1}}) ||
		fmt.Sprint(areas) != fmt.Sprint(want) {
		t.Fatalf("Pool = %+v, areas %+v, want areas %+v", p, areas, want)
	}
	if _, err := e.s.PoolAreas(e.ctx, "nopool"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("areas of an unknown pool: %v", err)
	}
	// The sweeper frees the quarantine after its cool-down; the count follows.
	e.clock.Advance(e.cfg.Quarantine + time.Second)
	deadline := time.Now().Add(waitBound)
	for e.pool(pool).Quarantined != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("quarantined count still %d", e.pool(pool).Quarantined)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testPoolSettings(t *testing.T, e *env) {
	got, err := e.s.PoolSettings(e.ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	want := store.DefaultPoolSettings()
	q, g := e.cfg.Quarantine, e.cfg.SMSGrace
	want.Quarantine, want.SMS.Grace = &q, &g
	if fmt.Sprintf("%+v %v", got, *got.Quarantine) != fmt.Sprintf("%+v %v", want, q) {
		t.Fatalf("defaults = %+v, want %+v", got, want)
	}
	five := 5 * time.Minute
	set := store.PoolSettings{
		ExtensionLength: 6,
		Quarantine:      &five,
		UnknownCaller:   store.UnknownCaller{Action: store.UnknownAnnounce, Prompt: "not_in_service"},
		Expiry:          store.ExpiryPolicy{Mode: store.ExpiryTeardown, WarnSeconds: 30},
		CallbackWindow:  2 * time.Hour,
		Prompts:         map[string]string{"enter_extension": "/etc/xbridge/ext.wav"},
	}
	if err := e.s.SetPoolSettings(e.ctx, pool, set); err != nil {
		t.Fatal(err)
	}
	got, err = e.s.PoolSettings(e.ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExtensionLength != 6 || *got.Quarantine != five || got.UnknownCaller != set.UnknownCaller ||
		got.Expiry != set.Expiry || got.CallbackWindow != 2*time.Hour || got.Prompts["enter_extension"] != "/etc/xbridge/ext.wav" {
		t.Fatalf("settings = %+v", got)
	}
	if all, err := e.s.PoolPrompts(e.ctx); err != nil || all[pool]["enter_extension"] != "/etc/xbridge/ext.wav" {
		t.Fatalf("PoolPrompts = %v, %v; want %s's prompt", all, err, pool)
	}
	// Setting a pool's settings creates the (empty) pool.
	e.wantPool(pool, 0, 0, 0)
	// The pool's quarantine applies to its released pairs.
	e.numbers(pool, "1700000001")
	b := e.create(e.req("13800000001", "13900000001"))
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(five + time.Second)
	again := e.create(e.req(b.A, b.B))
	if again.X != b.X {
		t.Fatalf("after the pool's quarantine: %+v", again)
	}
	// Whole replacement: an empty object is the defaults again.
	if err := e.s.SetPoolSettings(e.ctx, pool, store.PoolSettings{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.s.PoolSettings(e.ctx, pool); got.ExtensionLength != 4 || *got.Quarantine != q {
		t.Fatalf("after reset: %+v", got)
	}
	if all, err := e.s.PoolPrompts(e.ctx); err != nil || len(all[pool]) != 0 {
		t.Fatalf("PoolPrompts after reset = %v, %v; want none for %s", all, err, pool)
	}
}

func testBadPoolSettings(t *testing.T, e *env) {
	neg := -time.Second
	tests := []struct {
		field string
		s     store.PoolSettings
	}{
		{"extension_length", store.PoolSettings{ExtensionLength: 7}},
		{"extension_length", store.PoolSettings{ExtensionLength: -1}},
		{"quarantine", store.PoolSettings{Quarantine: &neg}},
		{"unknown_caller.action", store.PoolSettings{UnknownCaller: store.UnknownCaller{Action: "drop"}}},
		{"unknown_caller.code", store.PoolSettings{UnknownCaller: store.UnknownCaller{Code: 200}}},
		{"unknown_caller.code", store.PoolSettings{UnknownCaller: store.UnknownCaller{Code: 700}}},
		{"unknown_caller.code", store.PoolSettings{UnknownCaller: store.UnknownCaller{Action: store.UnknownAnnounce, Code: 404}}},
		{"unknown_caller.prompt", store.PoolSettings{UnknownCaller: store.UnknownCaller{Action: store.UnknownAnnounce, Prompt: "../etc"}}},
		{"expiry.mode", store.PoolSettings{Expiry: store.ExpiryPolicy{Mode: "linger"}}},
		{"expiry.warn_seconds", store.PoolSettings{Expiry: store.ExpiryPolicy{WarnSeconds: -1}}},
		{"expiry.warn_seconds", store.PoolSettings{Expiry: store.ExpiryPolicy{Mode: store.ExpiryFinish, WarnSeconds: 5}}},
		{"callback_window", store.PoolSettings{CallbackWindow: -time.Hour}},
		{"prompts", store.PoolSettings{Prompts: map[string]string{"Bad Name": "/x.wav"}}},
		{"prompts.ok", store.PoolSettings{Prompts: map[string]string{"ok": ""}}},
	}
	for _, tc := range tests {
		err := e.s.SetPoolSettings(e.ctx, pool, tc.s)
		var se *store.SettingError
		if !errors.Is(err, store.ErrInvalid) || !errors.As(err, &se) || se.Field != tc.field {
			t.Fatalf("SetPoolSettings(%+v) = %v, want a SettingError on %s", tc.s, err, tc.field)
		}
	}
	if _, err := e.s.Pool(e.ctx, pool); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused settings created the pool: %v", err)
	}
	if got, _ := e.s.PoolSettings(e.ctx, pool); got.ExtensionLength != 4 {
		t.Fatalf("refused settings changed something: %+v", got)
	}
}
