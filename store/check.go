package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// check verifies, like bbolt's tx.Check but for this schema, that every index
// agrees with the bindings: each binding's keys exist and point back to it,
// no index key dangles, per-number counts, the load index and pool stats
// match a full scan, each quarantine entry has exactly its expiry key, and
// every active-call record decodes under its own ID; and the call records
// (checkRecords) and the SMS relay's buckets (checkMessages).
// It returns every problem found, joined.
func (db *DB) check() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		var errs []error
		bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

		live := map[string]int{} // x -> bindings on it
		liveModel := map[string]*[numModels]uint64{}
		_ = bk.pools.ForEach(func(k, _ []byte) error { liveModel[string(k)] = new([numModels]uint64); return nil })
		pairs := map[string]bool{} // x sep party of live bindings
		bindings := 0
		_ = bk.bindings.ForEach(func(k, v []byte) error {
			bindings++
			b, err := decodeBinding(v)
			if err != nil {
				bad("binding %s: %v", k, err)
				return nil
			}
			if b.ID != string(k) {
				bad("binding under key %s has id %s", k, b.ID)
			}
			for _, p := range keyedParties(b) {
				if p == "" {
					continue
				}
				if got := bk.xParty.Get(pairKey(nil, b.X, p)); !bytes.Equal(got, k) {
					bad("binding %s: x_party %s/%s -> %q", k, b.X, p, got)
				}
				if got := bk.partyX.Get(pairKey(nil, p, b.X)); !bytes.Equal(got, k) {
					bad("binding %s: party_x %s/%s -> %q", k, p, b.X, got)
				}
				pairs[string(pairKey(nil, b.X, p))] = true
			}
			if b.OrderID != "" {
				if got := bk.order.Get([]byte(b.OrderID)); !bytes.Equal(got, k) {
					bad("binding %s: order %q -> %q", k, b.OrderID, got)
				}
			}
			if bk.expiry.Get(expiryKey(b)) == nil {
				bad("binding %s: no expiry key", k)
			}
			switch b.Model {
			case ModelAXN:
				if got := bk.xAny.Get([]byte(b.X)); !bytes.Equal(got, k) {
					bad("binding %s: x_any %s -> %q", k, b.X, got)
				}
				if b.Extension != "" {
					bad("binding %s: AXN with extension %q", k, b.Extension)
				}
			case ModelAXE:
				if got := bk.xExt.Get(extKey(nil, b.X, b.Extension)); !bytes.Equal(got, k) {
					bad("binding %s: x_ext %s/%s -> %q", k, b.X, b.Extension, got)
				}
				if b.B != "" {
					bad("binding %s: AXE with b", k)
				}
				pairs[string(extQuarantineKey(nil, b.X, b.Extension))] = true
			}
			if pool, ok := parseNumberValue(bk.numbers.Get([]byte(b.X))); !ok || pool != b.Pool {
				bad("binding %s: x %s is not in pool %q", k, b.X, b.Pool)
			}
			live[b.X]++
			if m := liveModel[b.Pool]; m != nil {
				m[modelSlot(b.Model)]++
			}
			return nil
		})

		backRef := func(name string, bucket *bolt.Bucket, want func(b Binding, k []byte) bool) {
			_ = bucket.ForEach(func(k, v []byte) error {
				b, err := bk.getBinding(v)
				if err != nil {
					bad("%s %q -> %s: %v", name, k, v, err)
				} else if !want(b, k) {
					bad("%s %q -> binding %s that does not hold it", name, k, v)
				}
				return nil
			})
		}
		backRef("x_party", bk.xParty, func(b Binding, k []byte) bool {
			return string(k) == string(pairKey(nil, b.X, b.A)) || b.B != "" && string(k) == string(pairKey(nil, b.X, b.B))
		})
		backRef("party_x", bk.partyX, func(b Binding, k []byte) bool {
			return string(k) == string(pairKey(nil, b.A, b.X)) || b.B != "" && string(k) == string(pairKey(nil, b.B, b.X))
		})
		backRef("x_any", bk.xAny, func(b Binding, k []byte) bool { return b.Model == ModelAXN && b.X == string(k) })
		backRef("x_ext", bk.xExt, func(b Binding, k []byte) bool {
			return b.Model == ModelAXE && string(k) == string(extKey(nil, b.X, b.Extension))
		})
		_ = bk.callers.ForEach(func(k, v []byte) error {
			if b, err := bk.getBinding(k); err != nil || b.Model != ModelAXE || len(v) <= 8 {
				bad("callers %q: not a well-formed entry of an AXE binding (%v)", k, err)
			}
			return nil
		})
		_ = bk.xExt.ForEach(func(k, _ []byte) error {
			x, _, _ := bytes.Cut(k, []byte{sep})
			if bk.xAny.Get(x) != nil {
				bad("x %s has both an AXN and extensions", x)
			}
			return nil
		})
		backRef("order", bk.order, func(b Binding, k []byte) bool { return b.OrderID == string(k) })
		expiries := 0
		_ = bk.expiry.ForEach(func(k, _ []byte) error {
			expiries++
			if len(k) <= 8 {
				bad("malformed expiry key %x", k)
				return nil
			}
			b, err := bk.getBinding(k[8:])
			if err != nil {
				bad("expiry key %x: %v", k, err)
			} else if !bytes.Equal(expiryKey(b), k) {
				bad("expiry key %x does not match binding %s expiring %s", k, b.ID, b.ExpiresAt)
			}
			return nil
		})
		if expiries != bindings {
			bad("%d expiry keys for %d bindings", expiries, bindings)
		}

		errs = append(errs, bk.checkPools(live, liveModel)...)

		quarantined := 0
		_ = bk.quarantine.ForEach(func(k, v []byte) error {
			quarantined++
			until, ok := timeOfKey(v)
			if !ok {
				bad("quarantine %q: malformed entry", k)
				return nil
			}
			if bk.quarExpiry.Get(timeKey(until, k)) == nil {
				bad("quarantine %q: no expiry key", k)
			}
			if pairs[string(k)] {
				bad("quarantine %q: pair is also live", k)
			}
			return nil
		})
		errs = append(errs, bk.checkQuarantineIndexes()...)
		if n := bk.quarExpiry.Stats().KeyN; n != quarantined {
			bad("%d quarantine expiry keys for %d entries", n, quarantined)
		}

		_ = bk.active.ForEach(func(k, v []byte) error {
			if c, err := decodeActiveCall(v); err != nil {
				bad("active call %q: %v", k, err)
			} else if c.ID != string(k) {
				bad("active call under key %q has id %q", k, c.ID)
			}
			return nil
		})
		checkRecords(tx, bad)
		checkMessages(tx, bad)
		return errors.Join(errs...)
	})
}

// checkRecords verifies that every call record decodes under its own ID
// with its index entries, that no index entry dangles, and that outbox
// entries and dead events decode.
func checkRecords(tx *bolt.Tx, bad func(string, ...any)) {
	recs := tx.Bucket(bucketCallRecords)
	_ = recs.ForEach(func(k, v []byte) error {
		r, err := decodeCallRecord(v)
		if err != nil {
			bad("call record %q: %v", k, err)
			return nil
		}
		if r.ID != string(k) {
			bad("call record under key %q has id %q", k, r.ID)
		}
		for _, ix := range recordIndexes(tx, r.BindingID, r.OrderID, r.X) {
			if ix.bucket.Get(pairKey(nil, ix.owner, r.ID)) == nil {
				bad("call record %s: no index entry under %q", k, ix.owner)
			}
		}
		return nil
	})
	for _, name := range [][]byte{bucketRecordBinding, bucketRecordOrder, bucketRecordX} {
		_ = tx.Bucket(name).ForEach(func(k, _ []byte) error {
			owner, id, ok := bytes.Cut(k, []byte{sep})
			if !ok {
				bad("%s: malformed key %q", name, k)
				return nil
			}
			v := recs.Get(id)
			if v == nil {
				bad("%s %q: no record %s", name, owner, id)
				return nil
			}
			if r, err := decodeCallRecord(v); err == nil {
				want := map[string]string{string(bucketRecordBinding): r.BindingID, string(bucketRecordOrder): r.OrderID, string(bucketRecordX): r.X}[string(name)]
				if want != string(owner) {
					bad("%s %q -> record %s of %q", name, owner, id, want)
				}
			}
			return nil
		})
	}
	_ = tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		if _, _, _, err := decodeEvent(v); err != nil || len(k) != 8 {
			bad("outbox entry %x: %v", k, err)
		}
		return nil
	})
	_ = tx.Bucket(bucketDead).ForEach(func(k, v []byte) error {
		if d, err := decodeDead(v); err != nil || d.ID != string(k) {
			bad("dead event %q: %v", k, err)
		}
		return nil
	})
}
