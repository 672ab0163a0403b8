package store

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// sweepChunk bounds the keys removed per transaction, so a backlog
	// (say, after downtime) never makes one huge transaction that stalls
	// writers.
	sweepChunk = 256
	// sweepSlice bounds the time one sweep transaction spends removing
	// before it commits. Removal is CPU work, and on two cores a sweeper
	// that held a core for a whole scheduler time slice (10 ms) kept call
	// routing waiting for a core that long: 100,000 bindings expiring at
	// one second stalled a lookup for 14 ms with chunks of 256, and the
	// runtime saw goroutines wait up to 42 ms for a CPU (the scale
	// harness's "Go runtime meanwhile", docs/PERFORMANCE.md). The commit
	// then blocks in fsync and gives the core back.
	sweepSlice = 2 * time.Millisecond
	// maxSweptPerTick bounds one sweep; whatever is left waits for the
	// next tick.
	maxSweptPerTick = 64 * 1024
)

func (db *DB) sweepLoop() {
	defer db.swept.Done()
	tick := time.NewTicker(db.opts.sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-tick.C:
		}
		if err := db.sweep(); err != nil {
			db.log.Error().Err(err).Msg("sweep failed")
		}
	}
}

// sweep ends every binding whose ExpiresAt has come and frees every pair
// whose quarantine has passed.
func (db *DB) sweep() error {
	now := db.now()
	for _, step := range []func(time.Time) (int, bool, error){db.sweepExpired, db.sweepGrace, db.purgeQuarantine, db.pruneStep} {
		for done := 0; done < maxSweptPerTick; {
			n, more, err := step(now)
			if err != nil {
				return err
			}
			done += n
			if !more {
				break
			}
			select {
			case <-db.stop:
				return nil
			default:
			}
		}
	}
	return nil
}

// dueKeys returns copies of up to sweepChunk keys of an expiry-style bucket
// whose time prefix is at or before now. The caller deletes them after the
// cursor is done: deleting under a cursor can skip keys.
func dueKeys(b *bolt.Bucket, now time.Time) [][]byte {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < sweepChunk; k, _ = c.Next() {
		t, ok := timeOfKey(k)
		if ok && t.After(now) {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// sliceOver reports whether a sweep transaction that started at start and
// has handled done keys should commit now: after sweepSlice, and never
// before its first key, so a sweep always moves on.
func sliceOver(start time.Time, done int) bool {
	return done > 0 && time.Since(start) >= sweepSlice
}

// sweepExpired removes one chunk of expired bindings (up to sweepChunk, and
// no more than sweepSlice of work) and publishes their Ended events after
// the commit. It returns how many keys it handled and whether more may be
// due.
func (db *DB) sweepExpired(now time.Time) (int, bool, error) {
	var (
		ended []Ended
		n     int
		more  bool
	)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		start := time.Now()
		bk := bucketsOf(tx)
		keys := dueKeys(bk.expiry, now)
		n, more = 0, len(keys) == sweepChunk
		for _, k := range keys {
			if sliceOver(start, n) {
				more = true
				break
			}
			n++
			if len(k) <= 8 {
				db.log.Warn().Hex("key", k).Msg("dropping malformed expiry key")
				if err := bk.expiry.Delete(k); err != nil {
					return err
				}
				continue
			}
			b, err := bk.getBinding(k[8:])
			if err != nil {
				// An index key without its binding: drop the key so the
				// sweep cannot stall on it.
				db.log.Warn().Err(err).Str("binding", string(k[8:])).Msg("dropping dangling expiry key")
				if err := bk.expiry.Delete(k); err != nil {
					return err
				}
				continue
			}
			e, err := db.removeBinding(bk, b, EndExpired, now)
			if err != nil {
				return err
			}
			ended = append(ended, e)
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: sweep expired: %w", err)
	}
	for _, e := range ended {
		db.log.Debug().Str("binding", e.Binding.ID).Time("expires_at", e.Binding.ExpiresAt).Msg("binding expired")
	}
	db.hub.publish(ended)
	return n, more, nil
}

// dueSlice hands handle the keys of an expiry-style bucket that are due
// at now, up to sweepChunk and no more than one sweepSlice of work from
// start: the shape of every sweep step. It returns how many it handled
// and whether more may be due.
func dueSlice(b *bolt.Bucket, now, start time.Time, handle func(k []byte) error) (int, bool, error) {
	keys := dueKeys(b, now)
	n, more := 0, len(keys) == sweepChunk
	for _, k := range keys {
		if sliceOver(start, n) {
			return n, true, nil
		}
		n++
		if err := handle(k); err != nil {
			return n, more, err
		}
	}
	return n, more, nil
}

// purgeQuarantine frees one chunk of pairs whose cool-down has passed,
// bounded as sweepExpired's; it returns how many it handled and whether
// more may be due.
func (db *DB) purgeQuarantine(now time.Time) (int, bool, error) {
	var (
		n    int
		more bool
	)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		var err error
		n, more, err = dueSlice(bk.quarExpiry, now, time.Now(), func(k []byte) error {
			if err := bk.quarExpiry.Delete(k); err != nil {
				return err
			}
			if len(k) <= 8 {
				return nil
			}
			pair := k[8:]
			// The entry may have been replaced by a later quarantine of the
			// same pair; only an entry with this very deadline goes.
			if v := bk.quarantine.Get(pair); len(v) >= 8 && bytes.Equal(v[:8], k[:8]) {
				return bk.dropQuarantine(pair)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: purge quarantine: %w", err)
	}
	return n, more, nil
}

// pruneStep removes the call records and dead events older than the
// record retention, in transactions of at most sweepSlice of work. Finding
// nothing to remove costs a read transaction, not a commit.
func (db *DB) pruneStep(now time.Time) (int, bool, error) {
	if db.opts.recordRetention <= 0 {
		return 0, false, nil
	}
	cutoff := now.Add(-db.opts.recordRetention)
	due := false
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		for _, b := range []struct {
			name   []byte
			prefix byte
		}{{bucketCallRecords, 'r'}, {bucketDead, 'e'}} {
			k, _ := tx.Bucket(b.name).Cursor().First()
			if k != nil && string(k) < idFloor(b.prefix, cutoff) {
				due = true
			}
		}
		return nil
	})
	if !due {
		return 0, false, nil
	}
	var (
		n    int
		more bool
	)
	err := db.write(func(tx *bolt.Tx) error {
		start := time.Now()
		n, more = 0, false
		for {
			k, m, err := pruneRecords(tx, cutoff, sweepChunk)
			n += k
			if err != nil || !m {
				return err
			}
			if sliceOver(start, n) {
				more = true
				return nil
			}
		}
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: prune call records: %w", err)
	}
	return n, more, nil
}
