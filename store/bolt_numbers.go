package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// poolStatsOf reads pool's counters; a pool without any is ErrNotFound.
func (bk buckets) poolStatsOf(pool string) (poolStats, error) {
	v := bk.pools.Get([]byte(pool))
	if v == nil {
		return poolStats{}, ErrNotFound
	}
	s, ok := decodePoolStats(v)
	if !ok {
		return poolStats{}, fmt.Errorf("pool %q: malformed stats", pool)
	}
	return s, nil
}

func (bk buckets) putPoolStats(pool string, s poolStats) error {
	return bk.pools.Put([]byte(pool), s.encode())
}

// areaStatsOf reads the counters of (pool, area); zero when it has none yet.
func (bk buckets) areaStatsOf(pool, area string) (areaStats, error) {
	v := bk.poolAreas.Get(pairKey(nil, pool, area))
	if v == nil {
		return areaStats{}, nil
	}
	s, ok := decodeAreaStats(v)
	if !ok {
		return areaStats{}, fmt.Errorf("pool %q area %q: malformed stats", pool, area)
	}
	return s, nil
}

func (bk buckets) putAreaStats(pool, area string, s areaStats) error {
	if s.size == 0 {
		return bk.poolAreas.Delete(pairKey(nil, pool, area))
	}
	return bk.poolAreas.Put(pairKey(nil, pool, area), s.encode())
}

// number reads x's record; ok is false when x is in no pool.
func (bk buckets) number(x []byte) (numberRecord, bool, error) {
	v := bk.numbers.Get(x)
	if v == nil {
		return numberRecord{}, false, nil
	}
	r, ok := decodeNumber(v)
	if !ok {
		return numberRecord{}, false, fmt.Errorf("number %s: malformed entry", x)
	}
	return r, true, nil
}

// addNumber writes a new, enabled number at the end of both dense indexes.
func (bk buckets) addNumber(pool, area, x string) error {
	ps, err := bk.poolStatsOf(pool)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	as, err := bk.areaStatsOf(pool, area)
	if err != nil {
		return err
	}
	rec := numberRecord{iPool: ps.size - ps.disabled, iArea: as.enabled, area: area, pool: pool}
	if err := bk.indexPut(rec, x); err != nil {
		return err
	}
	if err := bk.numbers.Put([]byte(x), rec.encode()); err != nil {
		return err
	}
	if err := bk.poolNumbers.Put(pairKey(nil, pool, x), []byte{}); err != nil {
		return err
	}
	ps.size++
	as.size++
	as.enabled++
	as.idle++
	if err := bk.putAreaStats(pool, area, as); err != nil {
		return err
	}
	return bk.putPoolStats(pool, ps)
}

// indexPut writes x at rec's positions in the pool's and the area's index.
func (bk buckets) indexPut(rec numberRecord, x string) error {
	if err := bk.poolIndex.Put(indexKey(prefixKey(rec.pool), rec.iPool), []byte(x)); err != nil {
		return err
	}
	return bk.areaIndex.Put(indexKey(areaPrefix(rec.pool, rec.area), rec.iArea), []byte(x))
}

// indexRemove takes x (record rec, enabled) out of both dense indexes,
// moving each index's last number into the hole. poolN and areaN are the
// indexes' lengths before the removal.
func (bk buckets) indexRemove(rec numberRecord, x string, poolN, areaN uint32) error {
	moves := []struct {
		bucket *bolt.Bucket
		prefix []byte
		i, n   uint32
		set    func(r *numberRecord, i uint32)
	}{
		{bk.poolIndex, prefixKey(rec.pool), rec.iPool, poolN, func(r *numberRecord, i uint32) { r.iPool = i }},
		{bk.areaIndex, areaPrefix(rec.pool, rec.area), rec.iArea, areaN, func(r *numberRecord, i uint32) { r.iArea = i }},
	}
	for _, m := range moves {
		if m.n == 0 || m.i >= m.n {
			return fmt.Errorf("number %s: index position %d outside %d", x, m.i, m.n)
		}
		if got := m.bucket.Get(indexKey(m.prefix, m.i)); string(got) != x {
			return fmt.Errorf("number %s: index position %d holds %q", x, m.i, got)
		}
		last := m.n - 1
		if m.i != last {
			moved := bytes.Clone(m.bucket.Get(indexKey(m.prefix, last)))
			other, ok, err := bk.number(moved)
			if err != nil || !ok {
				return fmt.Errorf("number %s: last index entry %q: %v", x, moved, err)
			}
			m.set(&other, m.i)
			if err := m.bucket.Put(indexKey(m.prefix, m.i), moved); err != nil {
				return err
			}
			if err := bk.numbers.Put(moved, other.encode()); err != nil {
				return err
			}
		}
		if err := m.bucket.Delete(indexKey(m.prefix, last)); err != nil {
			return err
		}
	}
	return nil
}

// addLoad counts binding b in (delta +1, once its keys are written) or out
// (-1, once they are removed) of its pool's and area's counters. x's
// record is only read: whether b is x's first binding, or was its last,
// comes from x_party (numberRecord says why).
func (bk buckets) addLoad(b Binding, delta int) error {
	rec, ok, err := bk.number([]byte(b.X))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("number %s is in no pool", b.X)
	}
	ps, err := bk.poolStatsOf(rec.pool)
	if err != nil {
		return fmt.Errorf("pool %q of number %s: %w", rec.pool, b.X, err)
	}
	as, err := bk.areaStatsOf(rec.pool, rec.area)
	if err != nil {
		return err
	}
	slot := modelSlot(b.Model)
	if delta < 0 && (ps.bindings[slot] == 0 || as.bindings == 0) {
		return fmt.Errorf("number %s: pool %q's live count would go below zero", b.X, rec.pool)
	}
	if !bk.othersOn(b.X, b.ID) {
		// x goes from no binding to b, or from b to none.
		switch {
		case delta > 0:
			ps.inUse++
			as.inUse++
			if !rec.disabled {
				as.idle--
			}
		default:
			ps.inUse--
			as.inUse--
			if !rec.disabled {
				as.idle++
			}
		}
	}
	ps.bindings[slot] = uint64(int64(ps.bindings[slot]) + int64(delta))
	as.bindings = uint64(int64(as.bindings) + int64(delta))
	if err := bk.putAreaStats(rec.pool, rec.area, as); err != nil {
		return err
	}
	return bk.putPoolStats(rec.pool, ps)
}

// othersOn reports whether x has a live binding other than id. It reads
// at most the keys of id itself (two) and one more.
func (bk buckets) othersOn(x, id string) bool {
	prefix := prefixKey(x)
	c := bk.xParty.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if string(v) != id {
			return true
		}
	}
	return false
}

// liveOn is the number of live bindings on x: the distinct IDs keyed under
// x in x_party. It reads all of x's keys (two per AXB binding).
func (bk buckets) liveOn(x string) int {
	prefix := prefixKey(x)
	seen := map[string]struct{}{}
	c := bk.xParty.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		seen[string(v)] = struct{}{}
	}
	return len(seen)
}

// SetNumberDisabled implements Pools. Disabling takes x out of the dense
// indexes, so the allocator never sees it; its live bindings are untouched.
func (db *DB) SetNumberDisabled(ctx context.Context, pool, x string, disabled bool) (NumberInfo, error) {
	if err := ctx.Err(); err != nil {
		return NumberInfo{}, fmt.Errorf("store: disable number: %w", err)
	}
	if err := checkPoolName(pool); err != nil {
		return NumberInfo{}, err
	}
	if err := checkNumber("x", x, minPoolNumber, maxPoolNumber); err != nil {
		return NumberInfo{}, err
	}
	var info NumberInfo
	err := db.write(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		rec, ps, as, err := bk.poolNumber(pool, x)
		if err != nil {
			return err
		}
		info = bk.numberInfo(x, rec)
		if rec.disabled == disabled {
			return nil
		}
		idle := uint32(0)
		if !bk.othersOn(x, "") {
			idle = 1
		}
		if disabled {
			if err := bk.indexRemove(rec, x, ps.size-ps.disabled, as.enabled); err != nil {
				return err
			}
			// indexRemove may have rewritten another record, never x's.
			ps.disabled++
			as.enabled--
			as.idle -= idle
		} else {
			rec.iPool, rec.iArea = ps.size-ps.disabled, as.enabled
			if err := bk.indexPut(rec, x); err != nil {
				return err
			}
			ps.disabled--
			as.enabled++
			as.idle += idle
		}
		rec.disabled = disabled
		if err := bk.numbers.Put([]byte(x), rec.encode()); err != nil {
			return err
		}
		if err := bk.putAreaStats(pool, rec.area, as); err != nil {
			return err
		}
		info = bk.numberInfo(x, rec)
		return bk.putPoolStats(pool, ps)
	})
	if err != nil {
		return NumberInfo{}, err
	}
	db.log.Info().Str("pool", pool).Str("x", x).Bool("disabled", disabled).Msg("number disabled state set")
	return info, nil
}

// poolNumber reads x of pool with its pool's and area's counters;
// ErrNotInPool when x is not a number of pool.
func (bk buckets) poolNumber(pool, x string) (numberRecord, poolStats, areaStats, error) {
	rec, ok, err := bk.number([]byte(x))
	if err != nil {
		return numberRecord{}, poolStats{}, areaStats{}, err
	}
	if !ok || rec.pool != pool {
		return numberRecord{}, poolStats{}, areaStats{}, fmt.Errorf("store: x %s in pool %q: %w", x, pool, ErrNotInPool)
	}
	ps, err := bk.poolStatsOf(pool)
	if err != nil {
		return numberRecord{}, poolStats{}, areaStats{}, err
	}
	as, err := bk.areaStatsOf(pool, rec.area)
	return rec, ps, as, err
}

func (bk buckets) numberInfo(x string, r numberRecord) NumberInfo {
	return NumberInfo{Number: x, Area: r.area, Disabled: r.disabled, Bindings: bk.liveOn(x)}
}

// DeleteNumber implements Pools. A quarantine entry whose cool-down has
// passed but that the sweeper has not purged yet does not hold the number:
// it is purged with it.
func (db *DB) DeleteNumber(ctx context.Context, pool, x string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete number: %w", err)
	}
	if err := checkPoolName(pool); err != nil {
		return err
	}
	if err := checkNumber("x", x, minPoolNumber, maxPoolNumber); err != nil {
		return err
	}
	now := db.now()
	err := db.write(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		rec, ps, as, err := bk.poolNumber(pool, x)
		if err != nil {
			return err
		}
		if n := bk.liveOn(x); n > 0 {
			return fmt.Errorf("store: x %s has %d live bindings: %w", x, n, ErrNumberInUse)
		}
		stale := scanKeys(bk.quarantine, prefixKey(x))
		for _, k := range stale {
			if bk.quarantined(k, now) {
				return fmt.Errorf("store: x %s has a quarantined pair: %w", x, ErrNumberInUse)
			}
		}
		for _, k := range stale {
			if err := bk.clearQuarantine(k); err != nil {
				return err
			}
		}
		if len(stale) > 0 {
			// clearQuarantine counted them out of the pool's stats.
			if ps, err = bk.poolStatsOf(pool); err != nil {
				return err
			}
		}
		if rec.disabled {
			ps.disabled--
		} else {
			if err := bk.indexRemove(rec, x, ps.size-ps.disabled, as.enabled); err != nil {
				return err
			}
			as.enabled--
			as.idle--
		}
		ps.size--
		as.size--
		if err := bk.numbers.Delete([]byte(x)); err != nil {
			return err
		}
		if err := bk.poolNumbers.Delete(pairKey(nil, pool, x)); err != nil {
			return err
		}
		if err := bk.putAreaStats(pool, rec.area, as); err != nil {
			return err
		}
		// An emptied pool keeps its stats (and settings): it still exists.
		return bk.putPoolStats(pool, ps)
	})
	if err != nil {
		return err
	}
	db.log.Info().Str("pool", pool).Str("x", x).Msg("number deleted")
	return nil
}

// PoolNumbers implements Pools.
func (db *DB) PoolNumbers(ctx context.Context, pool, after string, limit int) ([]NumberInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: pool numbers: %w", err)
	}
	if limit < 0 {
		return nil, invalidf("limit %d is negative", limit)
	}
	if limit == 0 {
		limit = defaultLimit
	}
	out := []NumberInfo{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		if bk.pools.Get([]byte(pool)) == nil {
			return ErrNotFound
		}
		prefix := prefixKey(pool)
		c := bk.poolNumbers.Cursor()
		k, _ := c.Seek(pairKey(nil, pool, after))
		if after != "" && k != nil && string(k[len(prefix):]) == after {
			k, _ = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			x := k[len(prefix):]
			rec, ok, err := bk.number(x)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("pool_numbers %q: number has no record", k)
			}
			out = append(out, bk.numberInfo(string(x), rec))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pool %q numbers: %w", pool, err)
	}
	return out, nil
}

// scanKeys returns copies of the keys under prefix.
func scanKeys(bucket *bolt.Bucket, prefix []byte) [][]byte {
	var ks [][]byte
	c := bucket.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ks = append(ks, bytes.Clone(k))
	}
	return ks
}
