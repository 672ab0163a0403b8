package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQuarantinedPairs(t *testing.T) {
	clock := &testClock{now: epoch}
	db := openTest(t, WithClock(clock.Now), WithQuarantine(time.Hour), WithSweepInterval(time.Hour))
	ctx := context.Background()
	mustAdd(t, db, "p", "17000000001", "17000000002")
	mustAdd(t, db, "other", "17000000009")
	exp := clock.Now().Add(24 * time.Hour)
	create := func(nb NewBinding) Binding {
		t.Helper()
		nb.ExpiresAt = exp
		b, _, err := db.CreateBinding(ctx, nb)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	axb := create(NewBinding{Pool: "p", X: "17000000002", A: "13000000001", B: "13000000002"})
	axe := create(NewBinding{Pool: "p", X: "17000000001", Model: ModelAXE, A: "13000000003", Extension: "4321"})
	elsewhere := create(NewBinding{Pool: "other", X: "17000000009", A: "13000000001", B: "13000000002"})
	for _, b := range []Binding{axb, axe, elsewhere} {
		if _, err := db.DeleteBinding(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
	}
	until := clock.Now().Add(time.Hour)

	all, err := db.QuarantinedPairs(ctx, "p", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []QuarantinedPair{
		{X: "17000000001", Party: "13000000003", Until: until},
		{X: "17000000001", Extension: "4321", Until: until},
		{X: "17000000002", Party: "13000000001", Until: until},
		{X: "17000000002", Party: "13000000002", Until: until},
	}
	if len(all) != len(want) {
		t.Fatalf("got %+v, want %+v", all, want)
	}
	// Order within one x is the key's; compare as sets per x, and page by one.
	seen := map[QuarantinedPair]bool{}
	for _, p := range all {
		seen[p] = true
	}
	for _, p := range want {
		if !seen[p] {
			t.Errorf("missing %+v in %+v", p, all)
		}
	}
	var paged []QuarantinedPair
	after := ""
	for range 10 {
		page, err := db.QuarantinedPairs(ctx, "p", after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[0].Cursor()
	}
	if len(paged) != len(all) {
		t.Fatalf("paging by one gave %+v, want %+v", paged, all)
	}
	for i := range all {
		if paged[i] != all[i] {
			t.Errorf("page %d: %+v, want %+v", i, paged[i], all[i])
		}
	}

	for _, bad := range []string{"x", "17000000001", "17000000001/", "17000000001/#", "abc/123", "17000000001/#4a"} {
		if _, err := db.QuarantinedPairs(ctx, "p", bad, 1); !errors.Is(err, ErrInvalid) {
			t.Errorf("cursor %q: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := db.QuarantinedPairs(ctx, "nosuch", "", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown pool: %v", err)
	}
	// A cool-down that has passed is not listed, swept or not.
	clock.Advance(time.Hour)
	if left, err := db.QuarantinedPairs(ctx, "p", "", 0); err != nil || len(left) != 0 {
		t.Errorf("after the cool-down: %+v, %v", left, err)
	}
}
