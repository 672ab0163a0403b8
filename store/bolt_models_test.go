package store

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestModelsKeepIndexesConsistent: creates, patches, callers, deletes and
// expiry of every model leave indexes that check() finds whole.
func TestModelsKeepIndexesConsistent(t *testing.T) {
	clock := &testClock{now: epoch}
	db := openTest(t, WithClock(clock.Now), WithQuarantine(time.Hour), WithSweepInterval(time.Hour))
	ctx := context.Background()
	mustAdd(t, db, "p", "1700000001", "1700000002", "1700000003")
	exp := epoch.Add(time.Hour)
	var made []Binding
	for _, nb := range []NewBinding{
		{Pool: "p", A: "13800000001", B: "13900000001"},
		{Pool: "p", Model: ModelAXN, A: "13800000002", B: "13900000002"},
		{Pool: "p", Model: ModelAXN, A: "13800000003"},
		{Pool: "p", Model: ModelAXE, A: "13800000004"},
		{Pool: "p", Model: ModelAXE, A: "13800000005", Extension: "1234"},
	} {
		nb.ExpiresAt = exp
		b, _, err := db.CreateBinding(ctx, nb)
		if err != nil {
			t.Fatalf("create %+v: %v", nb, err)
		}
		made = append(made, b)
	}
	if err := db.check(); err != nil {
		t.Fatalf("after creates: %v", err)
	}
	if err := db.NoteCaller(ctx, made[3].ID, "13700000001", epoch); err != nil {
		t.Fatal(err)
	}
	newB := "13900000009"
	if _, err := db.UpdateBinding(ctx, made[1].ID, Patch{B: &newB}); err != nil {
		t.Fatal(err)
	}
	newA := "13800000009"
	if _, err := db.UpdateBinding(ctx, made[3].ID, Patch{A: &newA}); err != nil {
		t.Fatal(err)
	}
	if err := db.check(); err != nil {
		t.Fatalf("after patches: %v", err)
	}
	for _, b := range made[:2] {
		if _, err := db.DeleteBinding(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Hour)
	if err := db.sweep(); err != nil {
		t.Fatal(err)
	}
	if err := db.check(); err != nil {
		t.Fatalf("after deletes and sweep: %v", err)
	}
}

// TestOpenSchemaV1: a file written before AXN and AXE (schema 1, version 1
// records) opens, its bindings read as AXB with the default policy, and it
// takes the new models.
func TestOpenSchemaV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xbridge.db")
	ctx := context.Background()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "p", "1700000001")
	b, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Make it the file an older build wrote.
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketBindings).Put([]byte(b.ID), encodeBindingV1(b)); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketXAny, bucketXExt, bucketCallers} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaVersion, binary.BigEndian.AppendUint32(nil, schemaVersionV1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path)
	got, err := db.GetBinding(ctx, b.ID)
	if err != nil || got != b || got.Policy != (Policy{}) {
		t.Fatalf("v1 binding reads %+v, %v; want %+v", got, err, b)
	}
	if res, err := db.Resolve(ctx, b.X, b.A); err != nil || res.Binding != b {
		t.Fatalf("Resolve = %+v, %v", res, err)
	}
	if _, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", Model: ModelAXE, A: "13800000002", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("AXE on an upgraded file: %v", err)
	}
	var version uint32
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		version = binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(metaVersion))
		return nil
	})
	if version != schemaVersion {
		t.Fatalf("schema version %d after open, want %d", version, schemaVersion)
	}
}

func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.check(); err != nil {
			t.Errorf("check at close: %v", err)
		}
		_ = db.Close()
	})
	return db
}

// TestResolveAllocs: a caller keyed on X costs Resolve what it costs
// Lookup, so moving routing onto Resolve costs the AXB call nothing.
func TestResolveAllocs(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	mustAdd(t, db, "p", "1700000001")
	b, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	lookup := testing.AllocsPerRun(200, func() { _, _ = db.Lookup(ctx, b.X, b.A) })
	resolve := testing.AllocsPerRun(200, func() { _, _ = db.Resolve(ctx, b.X, b.A) })
	if resolve > lookup {
		t.Fatalf("Resolve costs %v allocations, Lookup %v", resolve, lookup)
	}
}
