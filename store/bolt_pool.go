package store

import (
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// AddNumbers implements Store. Every number is checked before anything is
// written: one bad number (malformed, or in another pool) fails the call and
// names the number.
func (db *DB) AddNumbers(ctx context.Context, pool string, numbers []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: add numbers: %w", err)
	}
	if err := checkPoolName(pool); err != nil {
		return 0, err
	}
	if len(numbers) == 0 {
		return 0, invalidf("no numbers to add to pool %q", pool)
	}
	for _, n := range numbers {
		if err := checkNumber("number", n, minPoolNumber, maxPoolNumber); err != nil {
			return 0, err
		}
	}
	uniq := slices.Clone(numbers)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)

	var added int
	err := db.write(func(tx *bolt.Tx) error {
		added = 0
		bk := bucketsOf(tx)
		var fresh []string
		for _, n := range uniq {
			_, owner, ok := parseNumberValue(bk.numbers.Get([]byte(n)))
			switch {
			case !ok:
				fresh = append(fresh, n)
			case owner != pool:
				return fmt.Errorf("store: number %s belongs to pool %q, not %q: %w", n, owner, pool, ErrInvalid)
			}
		}
		stats, _ := decodePoolStats(bk.pools.Get([]byte(pool)))
		for _, n := range fresh {
			if err := bk.numbers.Put([]byte(n), numberValue(0, pool)); err != nil {
				return fmt.Errorf("store: add number %s: %w", n, err)
			}
			if err := bk.poolLoad.Put(loadKey(pool, 0, n), []byte{}); err != nil {
				return fmt.Errorf("store: add number %s: %w", n, err)
			}
		}
		stats.size += uint32(len(fresh))
		if err := bk.pools.Put([]byte(pool), stats.encode()); err != nil {
			return fmt.Errorf("store: pool %q: %w", pool, err)
		}
		added = len(fresh)
		return nil
	})
	if err != nil {
		return 0, err
	}
	db.log.Info().Str("pool", pool).Int("added", added).Int("given", len(numbers)).Msg("numbers added")
	return added, nil
}

// Pool implements Store; it reads one key.
func (db *DB) Pool(ctx context.Context, pool string) (PoolInfo, error) {
	if err := ctx.Err(); err != nil {
		return PoolInfo{}, fmt.Errorf("store: pool: %w", err)
	}
	var info PoolInfo
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPools).Get([]byte(pool))
		if v == nil {
			return ErrNotFound
		}
		s, ok := decodePoolStats(v)
		if !ok {
			return fmt.Errorf("malformed pool stats %x", v)
		}
		info = PoolInfo{Name: pool, Size: int(s.size), InUse: int(s.inUse), Bindings: int(s.bindings)}
		return nil
	})
	if err != nil {
		return PoolInfo{}, fmt.Errorf("store: pool %q: %w", pool, err)
	}
	return info, nil
}

// InPool implements Store.
func (db *DB) InPool(ctx context.Context, x string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, fmt.Errorf("store: in pool: %w", err)
	}
	var (
		pool  string
		found bool
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketNumbers).Get([]byte(x))
		if v == nil {
			return nil
		}
		_, p, ok := parseNumberValue(v)
		if !ok {
			return fmt.Errorf("malformed number entry for %s", x)
		}
		pool, found = p, true
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("store: in pool %s: %w", x, err)
	}
	return pool, found, nil
}

// addLoad moves x's live-binding count by delta (+1 or -1), keeping the
// load index and the pool's stats in step.
func (bk buckets) addLoad(x string, delta int) error {
	count, pool, ok := parseNumberValue(bk.numbers.Get([]byte(x)))
	if !ok {
		return fmt.Errorf("number %s is in no pool", x)
	}
	if delta < 0 && count == 0 {
		return fmt.Errorf("number %s: live count would go below zero", x)
	}
	next := uint32(int64(count) + int64(delta))
	if err := bk.poolLoad.Delete(loadKey(pool, count, x)); err != nil {
		return err
	}
	if err := bk.poolLoad.Put(loadKey(pool, next, x), []byte{}); err != nil {
		return err
	}
	if err := bk.numbers.Put([]byte(x), numberValue(next, pool)); err != nil {
		return err
	}
	stats, ok := decodePoolStats(bk.pools.Get([]byte(pool)))
	if !ok {
		return fmt.Errorf("pool %q of number %s has no stats", pool, x)
	}
	switch {
	case count == 0 && next > 0:
		stats.inUse++
	case count > 0 && next == 0:
		stats.inUse--
	}
	stats.bindings = uint64(int64(stats.bindings) + int64(delta))
	return bk.pools.Put([]byte(pool), stats.encode())
}
