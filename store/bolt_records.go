package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Call records are keyed by their ID, which sorts by the time the call
// began: paging, since/until and pruning at the retention are all range
// scans of it. Three indexes find a binding's, an order's and an X's
// records: owner sep record id -> "".
var (
	bucketCallRecords   = []byte("call_records")   // record id -> JSON record
	bucketRecordBinding = []byte("record_binding") // binding id sep record id -> ""
	bucketRecordOrder   = []byte("record_order")   // order id sep record id -> ""
	bucketRecordX       = []byte("record_x")       // x sep record id -> ""
)

// RecordFilter selects call records (Records). At most one of BindingID,
// OrderID and X picks the index; the others, and the time bounds, filter.
type RecordFilter struct {
	BindingID, OrderID, X string
	// Since and Until bound the time the call began: Since included, Until
	// excluded; zero is unbounded.
	Since, Until time.Time
	// After is the cursor: the ID of the last record of the previous page.
	After string
	// Limit is the page size (1 to MaxRecordPage).
	Limit int
}

// MaxRecordPage is the largest page Records returns.
const MaxRecordPage = 1000

func putRecords(tx *bolt.Tx, records []queuedRecord) error {
	if len(records) == 0 {
		return nil
	}
	recs := tx.Bucket(bucketCallRecords)
	recs.FillPercent = appendFill
	for _, r := range records {
		if err := recs.Put([]byte(r.id), r.value); err != nil {
			return fmt.Errorf("call record %s: %w", r.id, err)
		}
		for _, ix := range recordIndexes(tx, r.bindingID, r.orderID, r.x) {
			k := pairKey(nil, ix.owner, r.id)
			if ix.bucket.Get(k) != nil {
				continue // the open record's: a Put would copy its page again
			}
			if err := ix.bucket.Put(k, []byte{}); err != nil {
				return fmt.Errorf("call record %s: %w", r.id, err)
			}
		}
	}
	return nil
}

type recordIndex struct {
	bucket *bolt.Bucket
	owner  string
}

// recordIndexes are the index entries of a record with those owners.
func recordIndexes(tx *bolt.Tx, bindingID, orderID, x string) []recordIndex {
	out := make([]recordIndex, 0, 3)
	for _, ix := range [...]struct {
		name  []byte
		owner string
	}{{bucketRecordBinding, bindingID}, {bucketRecordOrder, orderID}, {bucketRecordX, x}} {
		if ix.owner != "" {
			out = append(out, recordIndex{tx.Bucket(ix.name), ix.owner})
		}
	}
	return out
}

// Record implements Store.
func (db *DB) Record(ctx context.Context, id string) (CallRecord, error) {
	if err := ctx.Err(); err != nil {
		return CallRecord{}, err
	}
	var r CallRecord
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCallRecords).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var err error
		r, err = decodeCallRecord(v)
		return err
	})
	if err != nil {
		return CallRecord{}, fmt.Errorf("store: call record %q: %w", id, err)
	}
	return r, nil
}

// Records implements Store: a page of records in ID order (the order the
// calls began) and the cursor of the next page ("" after the last).
func (db *DB) Records(ctx context.Context, f RecordFilter) ([]CallRecord, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if f.Limit < 1 || f.Limit > MaxRecordPage {
		return nil, "", invalidf("limit must be 1 to %d", MaxRecordPage)
	}
	set := 0
	for _, s := range []string{f.BindingID, f.OrderID, f.X} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return nil, "", invalidf("filter by one of binding, order_id and x")
	}
	floor := ""
	if !f.Since.IsZero() {
		floor = idFloor('r', f.Since)
	}
	if f.After >= floor {
		floor = f.After
	}
	ceiling := ""
	if !f.Until.IsZero() {
		ceiling = idFloor('r', f.Until)
	}
	var (
		out  []CallRecord
		next string
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketCallRecords)
		var (
			c      *bolt.Cursor
			prefix []byte
		)
		switch {
		case f.BindingID != "":
			c, prefix = tx.Bucket(bucketRecordBinding).Cursor(), prefixKey(f.BindingID)
		case f.OrderID != "":
			c, prefix = tx.Bucket(bucketRecordOrder).Cursor(), prefixKey(f.OrderID)
		case f.X != "":
			c, prefix = tx.Bucket(bucketRecordX).Cursor(), prefixKey(f.X)
		default:
			c = recs.Cursor()
		}
		start := append(append([]byte(nil), prefix...), floor...)
		k, _ := c.Seek(start)
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := string(k[len(prefix):])
			if id == f.After {
				continue
			}
			if ceiling != "" && id >= ceiling {
				break
			}
			if len(out) == f.Limit {
				next = out[len(out)-1].ID
				break
			}
			v := recs.Get([]byte(id))
			if v == nil {
				continue // an index entry whose record was pruned in between
			}
			r, err := decodeCallRecord(v)
			if err != nil {
				db.log.Warn().Err(err).Str("record", id).Msg("skipping unreadable call record")
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: call records: %w", err)
	}
	return out, next, nil
}

// pruneRecords removes, in one transaction, up to max call records (and
// their index entries) of calls that began before cutoff, and dead events
// made before it; more says there are more to remove.
func pruneRecords(tx *bolt.Tx, cutoff time.Time, max int) (n int, more bool, err error) {
	ceiling := []byte(idFloor('r', cutoff))
	recs := tx.Bucket(bucketCallRecords)
	c := recs.Cursor()
	for k, v := c.First(); k != nil && bytes.Compare(k, ceiling) < 0; k, v = c.First() {
		if n == max {
			return n, true, nil
		}
		if r, derr := decodeCallRecord(v); derr == nil {
			for _, ix := range recordIndexes(tx, r.BindingID, r.OrderID, r.X) {
				if err := ix.bucket.Delete(pairKey(nil, ix.owner, string(k))); err != nil {
					return n, false, err
				}
			}
		}
		if err := c.Delete(); err != nil {
			return n, false, err
		}
		n++
	}
	deadCeiling := []byte(idFloor('e', cutoff))
	dc := tx.Bucket(bucketDead).Cursor()
	for k, _ := dc.First(); k != nil && bytes.Compare(k, deadCeiling) < 0; k, _ = dc.First() {
		if n == max {
			return n, true, nil
		}
		if err := dc.Delete(); err != nil {
			return n, false, err
		}
		n++
	}
	return n, false, nil
}
