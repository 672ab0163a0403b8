package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// AddNumbers implements Store: AddAreaNumbers without an area.
func (db *DB) AddNumbers(ctx context.Context, pool string, numbers []string) (int, error) {
	return db.AddAreaNumbers(ctx, pool, "", numbers)
}

// AddAreaNumbers implements Pools. Every number is checked before anything
// is written: one bad number (malformed, in another pool, or in this pool
// under another area) fails the call and names the number.
func (db *DB) AddAreaNumbers(ctx context.Context, pool, area string, numbers []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: add numbers: %w", err)
	}
	if err := checkPoolName(pool); err != nil {
		return 0, err
	}
	if err := CheckArea(area); err != nil {
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
			v := bk.numbers.Get([]byte(n))
			if v == nil {
				fresh = append(fresh, n)
				continue
			}
			rec, ok := decodeNumber(v)
			switch {
			case !ok:
				return fmt.Errorf("store: number %s: malformed entry", n)
			case rec.pool != pool:
				return fmt.Errorf("store: number %s belongs to pool %q, not %q: %w", n, rec.pool, pool, ErrInvalid)
			case rec.area != area:
				return fmt.Errorf("store: number %s is in area %q of pool %q, not %q: %w", n, rec.area, pool, area, ErrInvalid)
			}
		}
		for _, n := range fresh {
			if err := bk.addNumber(pool, area, n); err != nil {
				return fmt.Errorf("store: add number %s: %w", n, err)
			}
		}
		added = len(fresh)
		return nil
	})
	if err != nil {
		return 0, err
	}
	db.log.Info().Str("pool", pool).Str("area", area).Int("added", added).Int("given", len(numbers)).Msg("numbers added")
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
		info = s.info(pool)
		return nil
	})
	if err != nil {
		return PoolInfo{}, fmt.Errorf("store: pool %q: %w", pool, err)
	}
	return info, nil
}

// PoolAreas implements Pools: one key per area.
func (db *DB) PoolAreas(ctx context.Context, pool string) ([]AreaInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: pool areas: %w", err)
	}
	areas := []AreaInfo{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPools).Get([]byte(pool)) == nil {
			return ErrNotFound
		}
		prefix := prefixKey(pool)
		c := tx.Bucket(bucketPoolAreas).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			a, ok := decodeAreaStats(v)
			if !ok {
				return fmt.Errorf("malformed area stats %q", k)
			}
			areas = append(areas, AreaInfo{
				Area: string(k[len(prefix):]), Size: int(a.size), Enabled: int(a.enabled),
				Idle: int(a.idle), Bindings: int(a.bindings),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pool %q areas: %w", pool, err)
	}
	return areas, nil
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
		p, ok := parseNumberValue(v)
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

// AllPools returns every pool's figures, in name order: one read of the
// pools bucket, whose stats the writes keep (for metrics; a deployment has
// a handful of pools).
func (db *DB) AllPools(ctx context.Context) ([]PoolInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: pools: %w", err)
	}
	var out []PoolInfo
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPools).ForEach(func(k, v []byte) error {
			s, ok := decodePoolStats(v)
			if !ok {
				return fmt.Errorf("malformed pool stats of %q", k)
			}
			out = append(out, s.info(string(k)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: pools: %w", err)
	}
	return out, nil
}

func (s poolStats) info(pool string) PoolInfo {
	return PoolInfo{
		Name: pool, Size: int(s.size), InUse: int(s.inUse), Bindings: int(s.total()),
		Disabled: int(s.disabled), Quarantined: int(s.quarantined),
		ByModel: ModelCounts{AXB: int(s.bindings[0]), AXN: int(s.bindings[1]), AXE: int(s.bindings[2])},
	}
}
