package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// v1Record is a binding record as schema 1 wrote it, spelled out here so
// that a later record format cannot make this test write its own.
func v1Record(id, pool, x, a, b, order string, created, expires time.Time) []byte {
	v := []byte{1}
	v = binary.BigEndian.AppendUint64(v, uint64(created.UnixNano()))
	v = binary.BigEndian.AppendUint64(v, uint64(expires.UnixNano()))
	for _, f := range []string{id, "AXB", pool, x, a, b, order} {
		v = binary.AppendUvarint(v, uint64(len(f)))
		v = append(v, f...)
	}
	return v
}

func be32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func key(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

// writeV1 writes a schema 1 (or 2: the same pool layout) file by hand: pool
// "p" of three numbers, one binding on the first, one quarantined pair on
// the second; version 2 adds a quarantined AXE extension on the third
// (key x sep sep extension).
func writeV1(t *testing.T, path string, now time.Time, version uint32) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	until := now.Add(time.Hour)
	expires := now.Add(24 * time.Hour)
	const id = "b0000000000000000001"
	puts := []struct {
		bucket string
		k, v   []byte
	}{
		{"meta", []byte("version"), be32(version)},
		{"bindings", []byte(id), v1Record(id, "p", "1700000001", "13800000001", "13900000001", "o1", now, expires)},
		{"x_party", key("1700000001", "13800000001"), []byte(id)},
		{"x_party", key("1700000001", "13900000001"), []byte(id)},
		{"party_x", key("13800000001", "1700000001"), []byte(id)},
		{"party_x", key("13900000001", "1700000001"), []byte(id)},
		{"order", []byte("o1"), []byte(id)},
		{"expiry", append(binary.BigEndian.AppendUint64(nil, uint64(expires.UnixNano())), id...), []byte{}},
		{"numbers", []byte("1700000001"), append(be32(1), 'p')},
		{"numbers", []byte("1700000002"), append(be32(0), 'p')},
		{"numbers", []byte("1700000003"), append(be32(0), 'p')},
		{"pool_load", append(append([]byte("p\x00"), be32(1)...), "1700000001"...), []byte{}},
		{"pool_load", append(append([]byte("p\x00"), be32(0)...), "1700000002"...), []byte{}},
		{"pool_load", append(append([]byte("p\x00"), be32(0)...), "1700000003"...), []byte{}},
		// size 3, in use 1, bindings 1
		{"pools", []byte("p"), append(append(be32(3), be32(1)...), binary.BigEndian.AppendUint64(nil, 1)...)},
		{"quarantine", key("1700000002", "13800000009"), append(binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano())), "b0000000000000000000"...)},
		{"quar_expiry", append(binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano())), key("1700000002", "13800000009")...), []byte{}},
	}
	if version == 2 {
		ext := key("1700000003", "", "1234")
		puts = append(puts, []struct {
			bucket string
			k, v   []byte
		}{
			{"quarantine", ext, append(binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano())), "b0000000000000000002"...)},
			{"quar_expiry", append(binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano())), ext...), []byte{}},
		}...)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"active_calls", "quarantine", "quar_expiry"} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		for _, p := range puts {
			b, err := tx.CreateBucketIfNotExists([]byte(p.bucket))
			if err != nil {
				return err
			}
			if err := b.Put(p.k, p.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigratePools(t *testing.T) {
	for _, version := range []uint32{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) { testMigratePools(t, version) })
	}
}

func testMigratePools(t *testing.T, version uint32) {
	clock := &testClock{now: epoch}
	path := filepath.Join(t.TempDir(), "old.db")
	writeV1(t, path, epoch, version)
	db, err := Open(path, WithClock(clock.Now), WithQuarantine(0))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.check(); err != nil {
		t.Fatalf("check after upgrade: %v", err)
	}
	ctx := context.Background()
	b, err := db.Lookup(ctx, "1700000001", "13800000001")
	if err != nil || b.B != "13900000001" || b.OrderID != "o1" {
		t.Fatalf("Lookup after upgrade = %+v, %v", b, err)
	}
	if _, err := db.Lookup(ctx, "1700000002", "13800000009"); !errors.Is(err, ErrEnded) {
		t.Fatalf("quarantined pair after upgrade: %v", err)
	}
	p, err := db.Pool(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	areas, err := db.PoolAreas(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	quarantined := int(version) // v2 adds an extension
	if p != (PoolInfo{Name: "p", Size: 3, InUse: 1, Bindings: 1, ByModel: ModelCounts{AXB: 1}, Quarantined: quarantined}) ||
		len(areas) != 1 || areas[0] != (AreaInfo{Area: "", Size: 3, Enabled: 3, Idle: 2, Bindings: 1}) {
		t.Fatalf("Pool after upgrade = %+v, areas %+v", p, areas)
	}
	// The party-keyed quarantine was built: 13800000009 must never get
	// 1700000002; and 13800000001 must never get 1700000001 again.
	for i := range 20 {
		nb := NewBinding{Pool: "p", A: "13800000009", B: fmt.Sprintf("1370000%04d", i), ExpiresAt: epoch.Add(time.Hour)}
		got, _, err := db.CreateBinding(ctx, nb)
		if err != nil || got.X == "1700000002" {
			t.Fatalf("binding %d of the quarantined party: %+v, %v", i, got, err)
		}
		if _, err := db.DeleteBinding(ctx, got.ID); err != nil {
			t.Fatal(err)
		}
		nb.A = "13800000001"
		nb.B = fmt.Sprintf("1360000%04d", i)
		if got, _, err := db.CreateBinding(ctx, nb); err == nil && got.X == "1700000001" {
			t.Fatalf("second binding of A on 1700000001")
		}
	}
	if version == 2 {
		if err := db.DeleteNumber(ctx, "p", "1700000003"); !errors.Is(err, ErrNumberInUse) {
			t.Fatalf("deleting a number with a quarantined extension: %v", err)
		}
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPoolLoadV1) != nil {
			return errors.New("pool_load survived the upgrade")
		}
		if v := tx.Bucket(bucketMeta).Get(metaVersion); binary.BigEndian.Uint32(v) != schemaVersion {
			return fmt.Errorf("version %x after upgrade", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.check(); err != nil {
		t.Fatalf("check after use: %v", err)
	}
	// Reopening does not migrate again.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.check(); err != nil {
		t.Fatalf("check after reopen: %v", err)
	}
}

// TestOldMarkerOnNewLayout: a file marked schema 1 or 2 whose pool buckets
// already have schema 3's layout (no pool_load) opens without its numbers
// being read as schema 1's.
func TestOldMarkerOnNewLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.AddAreaNumbers(ctx, "p", "010", []string{"1700000001", "1700000002"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	db = bendAndReopen(t, db, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaVersion, be32(1)) })
	if err := db.check(); err != nil {
		t.Fatalf("check: %v", err)
	}
	if areas, err := db.PoolAreas(ctx, "p"); err != nil || len(areas) != 1 || areas[0].Area != "010" {
		t.Fatalf("areas %+v, %v", areas, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v9.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(metaVersion, be32(9))
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = bdb.Close()
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "schema version 9") {
		t.Fatalf("Open of a schema 9 file: %v", err)
	}
	// Nothing was created in the refused file.
	bdb, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	_ = bdb.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBindings) != nil {
			t.Error("refused open created buckets")
		}
		return nil
	})
}

// TestSchema3CountsZeroed: a schema 3 file keeps each number's live count
// in its record; opened by schema 4, those bytes are zeroed in the same
// transaction as the version, and the counters still agree with the
// bindings (check), which schema 4 counts from x_party.
func TestSchema3CountsZeroed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "xbridge.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddNumbers(ctx, "p", []string{"1700000001", "1700000002"}); err != nil {
		t.Fatal(err)
	}
	b, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Make it the file schema 3 wrote: the count in the record, version 3.
	db = bendAndReopen(t, db, path, func(tx *bolt.Tx) error {
		numbers := tx.Bucket(bucketNumbers)
		v := bytes.Clone(numbers.Get([]byte(b.X)))
		binary.BigEndian.PutUint32(v[1:], 1)
		if err := numbers.Put([]byte(b.X), v); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaVersion, binary.BigEndian.AppendUint32(nil, 3))
	})
	err = db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaVersion); binary.BigEndian.Uint32(v) != schemaVersion {
			return fmt.Errorf("version %x after upgrade", v)
		}
		if v := tx.Bucket(bucketNumbers).Get([]byte(b.X)); binary.BigEndian.Uint32(v[1:]) != 0 {
			return fmt.Errorf("number %s still holds count %d", b.X, binary.BigEndian.Uint32(v[1:]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.check(); err != nil {
		t.Fatalf("check after upgrade: %v", err)
	}
	nums, err := db.PoolNumbers(ctx, "p", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nums {
		if want := map[bool]int{true: 1, false: 0}[n.Number == b.X]; n.Bindings != want {
			t.Errorf("number %s has %d bindings, want %d", n.Number, n.Bindings, want)
		}
	}
	// The binding still ends cleanly and the number can then go.
	if _, err := db.DeleteBinding(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.check(); err != nil {
		t.Fatalf("check after delete: %v", err)
	}
}

// bendAndReopen changes db's file by hand in one transaction, closes it and
// opens it again (closed when the test ends).
func bendAndReopen(t *testing.T, db *DB, path string, bend func(*bolt.Tx) error) *DB {
	t.Helper()
	if err := db.bolt.Update(bend); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
