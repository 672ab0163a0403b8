package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketTrackNos      = []byte("track_nos")      // tracking number -> binding id
	bucketBindingTracks = []byte("binding_tracks") // id sep tracking number -> ""
)

// putTrackNos keys nos to the binding id; ErrTrackNoTaken when one names
// another binding (live or in grace: an entry left by neither is
// replaced).
func (bk buckets) putTrackNos(id string, nos []string) error {
	nums, own := bk.tx.Bucket(bucketTrackNos), bk.tx.Bucket(bucketBindingTracks)
	g := bk.graceBuckets()
	for _, no := range nos {
		if v := nums.Get([]byte(no)); v != nil && string(v) != id && (bk.bindings.Get(v) != nil || g.grace.Get(v) != nil) {
			return fmt.Errorf("%w: %s", ErrTrackNoTaken, no)
		}
		if err := nums.Put([]byte(no), []byte(id)); err != nil {
			return err
		}
		if err := own.Put(pairKey(nil, id, no), []byte{}); err != nil {
			return err
		}
	}
	if n := countPrefix(own, prefixKey(id)); n > MaxTrackNos {
		return fieldf("track_nos", "a binding carries at most %d, this would make %d", MaxTrackNos, n)
	}
	return nil
}

func countPrefix(b *bolt.Bucket, prefix []byte) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// trackNos lists the binding id's tracking numbers, sorted.
func trackNos(tx *bolt.Tx, id string) []string {
	var out []string
	prefix := prefixKey(id)
	c := tx.Bucket(bucketBindingTracks).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// dropTrackNos removes the binding's tracking numbers, with the binding.
func dropTrackNos(tx *bolt.Tx, id string) error {
	nums, own := tx.Bucket(bucketTrackNos), tx.Bucket(bucketBindingTracks)
	for _, no := range trackNos(tx, id) {
		if bytes.Equal(nums.Get([]byte(no)), []byte(id)) {
			if err := nums.Delete([]byte(no)); err != nil {
				return err
			}
		}
		if err := own.Delete(pairKey(nil, id, no)); err != nil {
			return err
		}
	}
	return nil
}

// AddTrackNos implements Tracking.
func (db *DB) AddTrackNos(ctx context.Context, id string, nos []string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: add tracking numbers: %w", err)
	}
	if len(nos) == 0 {
		return nil, fieldf("track_nos", "give at least one")
	}
	if err := checkTrackNos(nos); err != nil {
		return nil, err
	}
	var out []string
	err := db.write(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		if bk.bindings.Get([]byte(id)) == nil && bk.graceBuckets().grace.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		if err := bk.putTrackNos(id, nos); err != nil {
			return err
		}
		out = trackNos(tx, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: add tracking numbers to %s: %w", id, err)
	}
	return out, nil
}

// TrackNos implements Tracking.
func (db *DB) TrackNos(ctx context.Context, id string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		out = trackNos(tx, id)
		return nil
	})
	return out, err
}

// LookupTrackNo implements Tracking.
func (db *DB) LookupTrackNo(ctx context.Context, no string) (Binding, bool, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, false, err
	}
	if checkTrackNos([]string{no}) != nil {
		return Binding{}, false, fmt.Errorf("store: tracking number %q: %w", no, ErrNotFound)
	}
	var (
		b     Binding
		grace bool
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketTrackNos).Get([]byte(no))
		if id == nil {
			return ErrNotFound
		}
		bk := buckets{tx: tx, bindings: tx.Bucket(bucketBindings), numbers: tx.Bucket(bucketNumbers)}
		var err error
		if b, err = bk.getBinding(id); errors.Is(err, ErrNotFound) {
			b, _, err = bk.graceBuckets().getGrace(id)
			grace = err == nil
		}
		return err
	})
	if err != nil {
		return Binding{}, false, fmt.Errorf("store: tracking number %s: %w", no, err)
	}
	return b, grace, nil
}
