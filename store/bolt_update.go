package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// UpdateBinding implements Store. The whole change is one transaction: the
// checks of the new parties against X, the move of every index key and the
// new record commit together or not at all. Calls in progress keep the
// binding they were routed with; the next call reads the new one.
func (db *DB) UpdateBinding(ctx context.Context, id string, p Patch) (Binding, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, fmt.Errorf("store: update binding: %w", err)
	}
	if id == "" || len(id) > maxIDLen {
		return Binding{}, fmt.Errorf("store: update binding %q: %w", id, ErrNotFound)
	}
	now := db.now()
	var (
		out   Binding
		ended []Ended
	)
	err := db.write(func(tx *bolt.Tx) error {
		out, ended = Binding{}, nil
		bk := bucketsOf(tx)
		old, err := bk.getBinding([]byte(id))
		if err != nil {
			return fmt.Errorf("store: update binding %s: %w", id, err)
		}
		if old.Expired(now) {
			return fmt.Errorf("store: update binding %s: expired: %w", id, ErrNotFound)
		}
		b := p.apply(old)
		if err := checkUpdated(b, old, now); err != nil {
			return err
		}
		if err := checkInPool(b.Model, "", b.Policy, bk.poolSettings(b.Pool)); err != nil {
			return err
		}
		var err2 error
		if ended, err2 = db.moveKeys(bk, old, b, now); err2 != nil {
			return err2
		}
		if err := bk.bindings.Put([]byte(b.ID), encodeBinding(b)); err != nil {
			return fmt.Errorf("store: update binding %s: %w", id, err)
		}
		out = b
		return nil
	})
	if err != nil {
		return Binding{}, err
	}
	db.hub.publish(ended)
	db.log.Debug().Str("binding", id).Msg("binding updated")
	return out, nil
}

// apply returns b changed by p.
func (p Patch) apply(b Binding) Binding {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&b.A, p.A)
	set(&b.B, p.B)
	set(&b.OrderID, p.OrderID)
	set(&b.Policy.UserData, p.UserData)
	set(&b.Policy.Webhook, p.Webhook)
	if p.ExpiresAt != nil {
		b.ExpiresAt = unixNano(p.ExpiresAt.UnixNano())
	}
	if p.Direction != nil {
		b.Policy.Direction = *p.Direction
	}
	if p.MaxCallSeconds != nil {
		b.Policy.MaxCallSeconds = *p.MaxCallSeconds
	}
	if p.WarnSeconds != nil {
		b.Policy.WarnSeconds = *p.WarnSeconds
	}
	if p.CallerDisplay != nil {
		b.Policy.CallerDisplay = *p.CallerDisplay
	}
	if p.Record != nil {
		b.Policy.Record = *p.Record
	}
	if p.SMSGraceSeconds != nil {
		b.Policy.SMSGraceSeconds = *p.SMSGraceSeconds
	}
	return b
}

// checkUpdated checks the binding a patch makes as CreateBinding checks a
// new one.
func checkUpdated(b, old Binding, now time.Time) error {
	if err := checkNumber("a", b.A, minParty, maxParty); err != nil {
		return err
	}
	if b.A == b.X || b.B == b.X {
		return invalidf("x %q is also a party", b.X)
	}
	if len(b.OrderID) > maxOrderID {
		return invalidf("order id longer than %d bytes", maxOrderID)
	}
	if b.ExpiresAt != old.ExpiresAt {
		if err := checkExpiry(b.ExpiresAt, now); err != nil {
			return err
		}
	}
	return checkModel(NewBinding{Model: b.Model, A: b.A, B: b.B, Extension: b.Extension, Policy: b.Policy})
}

// moveKeys moves the index keys of old to those of b (same ID, same X):
// parties leaving X go to quarantine, parties joining X must be free there,
// the expiry and order keys follow. An expired binding not yet swept that
// holds the new order ID is ended here, as CreateBinding does; its event is
// returned to publish after the commit.
func (db *DB) moveKeys(bk buckets, old, b Binding, now time.Time) ([]Ended, error) {
	var ended []Ended
	was, is := keyedParties(old), keyedParties(b)
	kept := func(set [2]string, p string) bool { return p != "" && (set[0] == p || set[1] == p) }
	for _, p := range is {
		if p == "" || kept(was, p) {
			continue
		}
		k := pairKey(nil, b.X, p)
		if bk.xParty.Get(k) != nil || bk.quarantined(k, now) {
			return nil, fmt.Errorf("store: update binding %s: %s on x %s: %w", b.ID, p, b.X, ErrPartyBusy)
		}
	}
	if b.OrderID != old.OrderID && b.OrderID != "" {
		prev, found, err := bk.bindingOfOrder(b.OrderID)
		if err != nil {
			return nil, err
		}
		if found && prev.ID != b.ID && !prev.Expired(now) {
			return nil, fmt.Errorf("store: order id %q is binding %s: %w", b.OrderID, prev.ID, ErrOrderConflict)
		}
		if found && prev.ID != b.ID {
			e, err := db.removeBinding(bk, prev, EndExpired, now)
			if err != nil {
				return nil, err
			}
			ended = append(ended, e)
		}
	}
	until := db.quarantineUntil(bk, old.Pool, now)
	for _, p := range was {
		if p != "" && !kept(is, p) {
			if err := bk.dropParty(old, p, until); err != nil {
				return nil, fmt.Errorf("store: update binding %s: %w", b.ID, err)
			}
		}
	}
	for _, p := range is {
		if p != "" && !kept(was, p) {
			if err := bk.putParty(b, p); err != nil {
				return nil, fmt.Errorf("store: update binding %s: %w", b.ID, err)
			}
		}
	}
	if b.Model == ModelAXE && b.A != old.A {
		// The last caller reached the old A; the new A has nobody to call
		// back yet.
		if err := bk.callers.Delete([]byte(b.ID)); err != nil {
			return nil, err
		}
	}
	if b.ExpiresAt != old.ExpiresAt {
		if err := bk.expiry.Delete(expiryKey(old)); err != nil {
			return nil, err
		}
		if err := bk.expiry.Put(expiryKey(b), []byte{}); err != nil {
			return nil, err
		}
	}
	if b.OrderID != old.OrderID {
		if old.OrderID != "" && bytes.Equal(bk.order.Get([]byte(old.OrderID)), []byte(old.ID)) {
			if err := bk.order.Delete([]byte(old.OrderID)); err != nil {
				return nil, err
			}
		}
		if b.OrderID != "" {
			if err := bk.order.Put([]byte(b.OrderID), []byte(b.ID)); err != nil {
				return nil, err
			}
		}
	}
	return ended, nil
}
