package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Resolve implements Resolver. A caller keyed on x (every AXB call) costs
// what Lookup costs: one read transaction, two gets, one allocation for the
// record. The other answers open the buckets they need on the way.
func (db *DB) Resolve(ctx context.Context, x, caller string) (Resolution, error) {
	if err := ctx.Err(); err != nil {
		return Resolution{}, fmt.Errorf("store: resolve: %w", err)
	}
	var res Resolution
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var scratch [64]byte
		key := pairKey(scratch[:0], x, caller)
		// Only the buckets each answer needs: opening one costs allocations.
		bk := buckets{xParty: tx.Bucket(bucketXParty)}
		if id := bk.xParty.Get(key); id != nil {
			bk.bindings = tx.Bucket(bucketBindings)
			b, err := bk.getBinding(id)
			if err != nil {
				return err
			}
			res = Resolution{Match: MatchPair, Binding: b, Pool: b.Pool}
			if b.Model == ModelAXE {
				bk.callers = tx.Bucket(bucketCallers)
				bk.settings = tx.Bucket(bucketPoolSettings)
				res.Settings = bk.poolSettings(b.Pool)
				res.LastCaller, res.LastCallerAt = bk.lastCaller(id)
			}
			return nil
		}
		xKey := key[:len(x)] // x, without a copy that escapes
		bk.quarantine = tx.Bucket(bucketQuarantine)
		bk.numbers = tx.Bucket(bucketNumbers)
		pool, _ := parseNumberValue(bk.numbers.Get(xKey))
		res.Pool = pool
		if bk.quarantined(key, db.now()) {
			return ErrEnded
		}
		if pool == "" {
			return ErrNotFound
		}
		bk.xAny = tx.Bucket(bucketXAny)
		if id := bk.xAny.Get(xKey); id != nil {
			bk.bindings = tx.Bucket(bucketBindings)
			b, err := bk.getBinding(id)
			if err != nil {
				return err
			}
			res.Match, res.Binding = MatchAnyCaller, b
			return nil
		}
		// Both answers left need the pool's settings: the extension menu's,
		// or what to do with a caller no binding answers.
		bk.settings = tx.Bucket(bucketPoolSettings)
		res.Settings = bk.poolSettings(pool)
		prefix := prefixKey(x)
		if k, _ := tx.Bucket(bucketXExt).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			res.Match = MatchExtensions
			return nil
		}
		return ErrNotFound
	})
	if err != nil {
		return res, fmt.Errorf("store: resolve x %s caller %s: %w", x, caller, err)
	}
	return res, nil
}

// LookupExtension implements Resolver.
func (db *DB) LookupExtension(ctx context.Context, x, ext string) (Binding, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, fmt.Errorf("store: lookup extension: %w", err)
	}
	if len(x) > maxPoolNumber || len(ext) > maxExtension {
		return Binding{}, fmt.Errorf("store: lookup x %s extension %s: %w", x, ext, ErrNotFound)
	}
	var b Binding
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var scratch [maxPoolNumber + 2 + maxExtension]byte
		bk := buckets{xExt: tx.Bucket(bucketXExt), bindings: tx.Bucket(bucketBindings)}
		id := bk.xExt.Get(extKey(scratch[:0], x, ext))
		if id == nil {
			bk.quarantine = tx.Bucket(bucketQuarantine)
			if bk.quarantined(extQuarantineKey(scratch[:0], x, ext), db.now()) {
				return ErrEnded
			}
			return ErrNotFound
		}
		var err error
		b, err = bk.getBinding(id)
		return err
	})
	if err != nil {
		return Binding{}, fmt.Errorf("store: lookup x %s extension %s: %w", x, ext, err)
	}
	return b, nil
}

// NoteCaller implements Resolver. The entry goes with its binding: a
// released extension's next binding starts with nobody to call back.
func (db *DB) NoteCaller(ctx context.Context, id, caller string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: note caller: %w", err)
	}
	if err := checkNumber("caller", caller, minParty, maxParty); err != nil {
		return err
	}
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("store: note caller on %q: %w", id, ErrNotFound)
	}
	return db.write(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		b, err := bk.getBinding([]byte(id))
		if err != nil {
			return fmt.Errorf("store: note caller on %s: %w", id, err)
		}
		if b.Model != ModelAXE {
			return invalidf("binding %s is %s; only AXE bindings have callers to call back", id, b.Model)
		}
		// The SMS relay reads the note too: a courier's SMS to X reaches
		// the A the courier last called through it.
		return bk.noteSender(b, caller, at)
	})
}

// lastCaller reads the callers entry of the AXE binding id.
func (bk buckets) lastCaller(id []byte) (string, time.Time) {
	v := bk.callers.Get(id)
	if len(v) <= 8 {
		return "", time.Time{}
	}
	return string(v[8:]), unixNano(int64(binary.BigEndian.Uint64(v)))
}
