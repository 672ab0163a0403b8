package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketPoolLoadV1 was the allocation index of schemas 1 and 2 (pool sep
// be32(live bindings) x -> ""): least loaded first. Schema 3 draws at
// random from the dense indexes instead.
var bucketPoolLoadV1 = []byte("pool_load")

// migratePools upgrades the pool buckets of a schema 1 or 2 file (the same
// pool layout) in the caller's transaction, the new buckets existing and
// empty: every number gets a record with no area and its positions in the
// dense indexes, the pool counters are rebuilt from the numbers and the
// bindings, the party-keyed quarantine index from the quarantine, and
// pool_load goes. Bindings and their indexes keep their format.
func migratePools(tx *bolt.Tx) error {
	bk := bucketsOf(tx)
	type v1Number struct {
		x     []byte
		count uint32
		pool  string
	}
	var numbers []v1Number
	err := bk.numbers.ForEach(func(k, v []byte) error {
		if len(v) < 4 {
			return fmt.Errorf("number %s: malformed schema 1 entry %x", k, v)
		}
		numbers = append(numbers, v1Number{x: bytes.Clone(k), count: binary.BigEndian.Uint32(v), pool: string(v[4:])})
		return nil
	})
	if err != nil {
		return err
	}
	stats := map[string]poolStats{}
	areas := map[string]areaStats{}
	for _, n := range numbers {
		ps, as := stats[n.pool], areas[n.pool]
		rec := numberRecord{iPool: ps.size, iArea: as.enabled, pool: n.pool}
		if err := bk.numbers.Put(n.x, rec.encode()); err != nil {
			return err
		}
		if err := bk.indexPut(rec, string(n.x)); err != nil {
			return err
		}
		if err := bk.poolNumbers.Put(pairKey(nil, n.pool, string(n.x)), []byte{}); err != nil {
			return err
		}
		ps.size++
		as.size++
		as.enabled++
		if n.count > 0 {
			ps.inUse++
			as.inUse++
		} else {
			as.idle++
		}
		as.bindings += uint64(n.count)
		stats[n.pool], areas[n.pool] = ps, as
	}
	// Live bindings per model: schema 2 has AXN and AXE too.
	err = bk.bindings.ForEach(func(k, v []byte) error {
		b, err := decodeBinding(v)
		if err != nil {
			return fmt.Errorf("binding %s: %w", k, err)
		}
		ps := stats[b.Pool]
		ps.bindings[modelSlot(b.Model)]++
		stats[b.Pool] = ps
		return nil
	})
	if err != nil {
		return err
	}
	type pair struct{ key, until []byte }
	var quarantined []pair
	err = bk.quarantine.ForEach(func(k, v []byte) error {
		if len(v) < 8 {
			return fmt.Errorf("quarantine %q: malformed entry", k)
		}
		quarantined = append(quarantined, pair{bytes.Clone(k), bytes.Clone(v[:8])})
		return nil
	})
	if err != nil {
		return err
	}
	for _, q := range quarantined {
		pk, err := partyQuarKey(q.key)
		if err != nil {
			return err
		}
		if pk != nil {
			if err := bk.partyQuar.Put(pk, q.until); err != nil {
				return err
			}
		}
		x, _, _ := splitPair(q.key)
		rec, ok, err := bk.number(x)
		if err != nil {
			return err
		}
		if ok {
			ps := stats[rec.pool]
			ps.quarantined++
			stats[rec.pool] = ps
		}
	}
	// A pool with stats but no numbers cannot arise in schema 1; should
	// one exist, it keeps existing, empty.
	_ = bk.pools.ForEach(func(k, _ []byte) error {
		if _, ok := stats[string(k)]; !ok {
			stats[string(k)] = poolStats{}
		}
		return nil
	})
	for pool, ps := range stats {
		if err := bk.putPoolStats(pool, ps); err != nil {
			return err
		}
		if err := bk.putAreaStats(pool, "", areas[pool]); err != nil {
			return err
		}
	}
	if tx.Bucket(bucketPoolLoadV1) != nil {
		if err := tx.DeleteBucket(bucketPoolLoadV1); err != nil {
			return fmt.Errorf("drop %s: %w", bucketPoolLoadV1, err)
		}
	}
	return nil
}

// zeroNumberCounts clears the reserved bytes of every number record, where
// schema 3 kept the number's live count (numberRecord).
func zeroNumberCounts(tx *bolt.Tx) error {
	numbers := tx.Bucket(bucketNumbers)
	var keys, values [][]byte
	err := numbers.ForEach(func(k, v []byte) error {
		if len(v) >= numberHeader && !bytes.Equal(v[1:5], []byte{0, 0, 0, 0}) {
			nv := bytes.Clone(v)
			copy(nv[1:5], []byte{0, 0, 0, 0})
			keys, values = append(keys, bytes.Clone(k)), append(values, nv)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, k := range keys {
		if err := numbers.Put(k, values[i]); err != nil {
			return fmt.Errorf("number %s: %w", k, err)
		}
	}
	return nil
}
