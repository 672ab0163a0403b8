package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CreateBinding implements Store. Validation, the order-ID check, the choice
// of X and every index write happen in one transaction: an error leaves the
// file as it was.
func (db *DB) CreateBinding(ctx context.Context, nb NewBinding) (Binding, bool, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, false, fmt.Errorf("store: create binding: %w", err)
	}
	now := db.now()
	if err := checkNewBinding(nb, now); err != nil {
		return Binding{}, false, err
	}
	var (
		out     Binding
		created bool
		ended   []Ended
	)
	err := db.write(func(tx *bolt.Tx) error {
		out, created, ended = Binding{}, false, nil
		bk := bucketsOf(tx)
		if nb.OrderID != "" {
			prev, found, err := bk.bindingOfOrder(nb.OrderID)
			if err != nil {
				return err
			}
			if found && !prev.Expired(now) {
				if !sameRequest(prev, nb) {
					return fmt.Errorf("store: order id %q is binding %s of other parties: %w", nb.OrderID, prev.ID, ErrOrderConflict)
				}
				out = prev
				return nil
			}
			if found {
				// Expired but not yet swept: end it here so the order ID
				// can carry the new binding.
				e, err := db.removeBinding(bk, prev, EndExpired, now)
				if err != nil {
					return err
				}
				ended = append(ended, e)
			}
		}
		settings := bk.poolSettings(nb.Pool)
		if err := checkInPool(modelOf(nb), nb.Extension, nb.Policy, settings); err != nil {
			return err
		}
		x, err := db.pickNumber(bk, nb, now)
		if err != nil {
			return err
		}
		id, err := bk.newBindingID(now)
		if err != nil {
			return err
		}
		b := Binding{
			ID:        id,
			Model:     modelOf(nb),
			Pool:      nb.Pool,
			X:         x,
			Area:      bk.areaOf(x),
			A:         nb.A,
			B:         nb.B,
			Extension: nb.Extension,
			OrderID:   nb.OrderID,
			Policy:    nb.Policy,
			CreatedAt: unixNano(now.UnixNano()),
			ExpiresAt: unixNano(nb.ExpiresAt.UnixNano()),
		}
		if b.Model == ModelAXE && b.Extension == "" {
			if b.Extension, err = bk.allocExtension(x, extensionLength(settings), now); err != nil {
				return err
			}
		}
		if err := bk.insertBinding(b); err != nil {
			return fmt.Errorf("store: create binding %s: %w", b.ID, err)
		}
		if len(nb.TrackNos) > 0 {
			if err := bk.putTrackNos(b.ID, nb.TrackNos); err != nil {
				return fmt.Errorf("store: create binding: %w", err)
			}
		}
		out, created = b, true
		return nil
	})
	if err != nil {
		return Binding{}, false, err
	}
	db.hub.publish(ended)
	if created {
		db.log.Debug().Str("binding", out.ID).Str("pool", out.Pool).Str("x", out.X).Msg("binding created")
	}
	return out, created, nil
}

// sameRequest reports whether nb is a retry of the request that made b.
func sameRequest(b Binding, nb NewBinding) bool {
	return b.A == nb.A && b.B == nb.B && b.Pool == nb.Pool && (nb.X == "" || nb.X == b.X) &&
		b.Model == modelOf(nb) && (nb.Extension == "" || nb.Extension == b.Extension)
}

func (bk buckets) bindingOfOrder(orderID string) (Binding, bool, error) {
	id := bk.order.Get([]byte(orderID))
	if id == nil {
		return Binding{}, false, nil
	}
	b, err := bk.getBinding(id)
	if err != nil {
		return Binding{}, false, fmt.Errorf("store: order id %q: %w", orderID, err)
	}
	return b, true, nil
}

func (bk buckets) newBindingID(now time.Time) (string, error) {
	// 80 random bits make a collision unheard of; checking costs one get.
	for range 3 {
		id, err := newID(now)
		if err != nil {
			return "", err
		}
		if bk.bindings.Get([]byte(id)) == nil {
			return id, nil
		}
	}
	return "", errors.New("store: binding id collided three times")
}

// insertBinding writes b and all its index keys. Every key handed to Put is
// freshly allocated: bbolt keeps referencing it until the commit.
func (bk buckets) insertBinding(b Binding) error {
	id := []byte(b.ID)
	type put struct {
		bucket     *bolt.Bucket
		key, value []byte
	}
	puts := []put{
		{bk.bindings, id, encodeBinding(b)},
		{bk.expiry, expiryKey(b), []byte{}},
	}
	if b.OrderID != "" {
		puts = append(puts, put{bk.order, []byte(b.OrderID), id})
	}
	for _, p := range puts {
		if err := p.bucket.Put(p.key, p.value); err != nil {
			return err
		}
	}
	for _, p := range keyedParties(b) {
		if err := bk.putParty(b, p); err != nil {
			return err
		}
	}
	if err := bk.insertModelKeys(b); err != nil {
		return err
	}
	return bk.addLoad(b, +1)
}

// putParty keys party on b's X. A pair whose cool-down passed may still
// have its entry (the sweeper purges lazily); the live binding replaces it.
func (bk buckets) putParty(b Binding, party string) error {
	if party == "" {
		return nil
	}
	id := []byte(b.ID)
	if err := bk.xParty.Put(pairKey(nil, b.X, party), id); err != nil {
		return err
	}
	if err := bk.partyX.Put(pairKey(nil, party, b.X), id); err != nil {
		return err
	}
	return bk.clearQuarantine(pairKey(nil, b.X, party))
}

// dropParty removes party's keys on b's X and quarantines the pair until
// until (zero: no quarantine).
func (bk buckets) dropParty(b Binding, party string, until time.Time) error {
	if party == "" {
		return nil
	}
	if err := bk.xParty.Delete(pairKey(nil, b.X, party)); err != nil {
		return err
	}
	if err := bk.partyX.Delete(pairKey(nil, party, b.X)); err != nil {
		return err
	}
	if until.IsZero() {
		return nil
	}
	return bk.putQuarantine(pairKey(nil, b.X, party), until, b.ID)
}

// removeBinding deletes b and all its index keys, quarantines its pairs and
// returns the event to publish once the transaction has committed.
func (db *DB) removeBinding(bk buckets, b Binding, reason EndReason, now time.Time) (Ended, error) {
	id := []byte(b.ID)
	var err error
	type del struct {
		bucket *bolt.Bucket
		key    []byte
	}
	dels := []del{
		{bk.bindings, id},
		{bk.expiry, expiryKey(b)},
	}
	for _, d := range dels {
		if err := d.bucket.Delete(d.key); err != nil {
			return Ended{}, fmt.Errorf("store: remove binding %s: %w", b.ID, err)
		}
	}
	if b.OrderID != "" && bytes.Equal(bk.order.Get([]byte(b.OrderID)), id) {
		if err := bk.order.Delete([]byte(b.OrderID)); err != nil {
			return Ended{}, fmt.Errorf("store: remove binding %s: order: %w", b.ID, err)
		}
	}
	until := db.quarantineUntil(bk, b.Pool, now)
	var grace time.Time
	if reason == EndExpired {
		grace = db.graceUntil(bk, b, now)
		if grace.After(until) {
			// A party in its SMS grace must not be bound to someone new on X.
			until = grace
		}
	}
	for _, p := range keyedParties(b) {
		if err := bk.dropParty(b, p, until); err != nil {
			return Ended{}, fmt.Errorf("store: remove binding %s: %w", b.ID, err)
		}
	}
	if err := bk.removeModelKeys(b, until); err != nil {
		return Ended{}, fmt.Errorf("store: remove binding %s: %w", b.ID, err)
	}
	if err := bk.addLoad(b, -1); err != nil {
		return Ended{}, fmt.Errorf("store: remove binding %s: %w", b.ID, err)
	}
	if grace.IsZero() {
		err = bk.forgetBinding(b)
	} else {
		err = bk.putGrace(b, grace)
	}
	if err != nil {
		return Ended{}, fmt.Errorf("store: remove binding %s: %w", b.ID, err)
	}
	return Ended{Binding: b, Reason: reason, At: now}, nil
}

// quarantineUntil is the end of the cool-down of a pair of pool released
// at now, zero when the pool's quarantine is off.
func (db *DB) quarantineUntil(bk buckets, pool string, now time.Time) time.Time {
	if q := db.quarantineOf(bk.poolSettings(pool)); q > 0 {
		return now.Add(q)
	}
	return time.Time{}
}

// GetBinding implements Store.
func (db *DB) GetBinding(ctx context.Context, id string) (Binding, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, fmt.Errorf("store: get binding: %w", err)
	}
	if id == "" || len(id) > maxIDLen {
		return Binding{}, fmt.Errorf("store: get binding %q: %w", id, ErrNotFound)
	}
	var b Binding
	err := db.bolt.View(func(tx *bolt.Tx) error {
		// Only the two buckets a binding is read from: the engine asks once
		// per call whether its binding is still there, and opening every
		// bucket (bucketsOf) cost about 1% of the engine's CPU per call.
		bk := buckets{bindings: tx.Bucket(bucketBindings), numbers: tx.Bucket(bucketNumbers)}
		var err error
		b, err = bk.getBinding([]byte(id))
		return err
	})
	if err != nil {
		return Binding{}, fmt.Errorf("store: get binding %s: %w", id, err)
	}
	return b, nil
}

// DeleteBinding implements Store.
func (db *DB) DeleteBinding(ctx context.Context, id string) (Binding, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, fmt.Errorf("store: delete binding: %w", err)
	}
	if id == "" || len(id) > maxIDLen {
		return Binding{}, fmt.Errorf("store: delete binding %q: %w", id, ErrNotFound)
	}
	now := db.now()
	var ended Ended
	err := db.write(func(tx *bolt.Tx) error {
		ended = Ended{}
		bk := bucketsOf(tx)
		b, err := bk.getBinding([]byte(id))
		if err != nil {
			return fmt.Errorf("store: delete binding %s: %w", id, err)
		}
		ended, err = db.removeBinding(bk, b, EndDeleted, now)
		return err
	})
	if err != nil {
		return Binding{}, err
	}
	db.hub.publish([]Ended{ended})
	db.log.Debug().Str("binding", id).Msg("binding deleted")
	return ended.Binding, nil
}

// Lookup implements Store. It is on the call path: one read transaction,
// two gets, one allocation for the record. It leaves Binding.Area empty
// unless the record carries it: routing needs no area, and reading X's
// would cost a bucket (six allocations) on every call.
func (db *DB) Lookup(ctx context.Context, x, party string) (Binding, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, fmt.Errorf("store: lookup: %w", err)
	}
	var b Binding
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var scratch [64]byte
		key := pairKey(scratch[:0], x, party)
		// Only the buckets this path needs: opening one costs allocations.
		bk := buckets{xParty: tx.Bucket(bucketXParty)}
		id := bk.xParty.Get(key)
		if id == nil {
			bk.quarantine = tx.Bucket(bucketQuarantine)
			if bk.quarantined(key, db.now()) {
				return ErrEnded
			}
			return ErrNotFound
		}
		bk.bindings = tx.Bucket(bucketBindings)
		var err error
		b, err = bk.getBinding(id)
		return err
	})
	if err != nil {
		return Binding{}, fmt.Errorf("store: lookup x %s party %s: %w", x, party, err)
	}
	return b, nil
}

// ListBindings implements Store. It reads the narrowest index the filter
// allows, applies the whole filter, and returns at most Limit bindings in ID
// order.
func (db *DB) ListBindings(ctx context.Context, f Filter) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: list bindings: %w", err)
	}
	if f.Limit < 0 {
		return nil, invalidf("list limit %d is negative", f.Limit)
	}
	limit := f.Limit
	if limit == 0 {
		limit = defaultLimit
	}
	var out []Binding
	err := db.bolt.View(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		var ids [][]byte
		switch {
		case f.X != "" && f.Party != "":
			if id := bk.xParty.Get(pairKey(nil, f.X, f.Party)); id != nil {
				ids = append(ids, id)
			}
		case f.X != "":
			ids = scanPrefix(bk.xParty, prefixKey(f.X))
		case f.Party != "":
			ids = scanPrefix(bk.partyX, prefixKey(f.Party))
		case f.OrderID != "":
			if id := bk.order.Get([]byte(f.OrderID)); id != nil {
				ids = append(ids, id)
			}
		default:
			// Unfiltered: the bindings bucket is already in ID order.
			c := bk.bindings.Cursor()
			for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
				b, err := decodeBinding(v)
				if err != nil {
					return fmt.Errorf("binding %s: %w", k, err)
				}
				out = append(out, b)
			}
			return nil
		}
		slices.SortFunc(ids, bytes.Compare)
		ids = slices.CompactFunc(ids, bytes.Equal)
		for _, id := range ids {
			b, err := bk.getBinding(id)
			if err != nil {
				return err
			}
			if f.matches(b) {
				out = append(out, b)
			}
			if len(out) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list bindings: %w", err)
	}
	return out, nil
}

func (f Filter) matches(b Binding) bool {
	return (f.X == "" || b.X == f.X) &&
		(f.Party == "" || b.A == f.Party || b.B == f.Party) &&
		(f.OrderID == "" || b.OrderID == f.OrderID)
}

// scanPrefix returns copies of the values under prefix.
func scanPrefix(bucket *bolt.Bucket, prefix []byte) [][]byte {
	var vs [][]byte
	c := bucket.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		vs = append(vs, bytes.Clone(v))
	}
	return vs
}
