package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketPoolLoadV1 was schema 1's allocation index (pool sep be32(live
// bindings) x -> ""): least loaded first. Schema 2 draws at random from the
// dense indexes instead.
var bucketPoolLoadV1 = []byte("pool_load")

// migrateV1 upgrades a schema 1 file in the caller's transaction (the new
// buckets exist, empty): every number gets a record with no area and its
// positions in the dense indexes, the pool counters are rebuilt (schema 1
// had only AXB bindings), the party-keyed quarantine index is built from the
// quarantine, and pool_load goes. The bindings and their indexes keep their
// format.
func migrateV1(tx *bolt.Tx) error {
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
		rec := numberRecord{count: n.count, iPool: ps.size, iArea: as.enabled, pool: n.pool}
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
		ps.bindings[modelSlot(ModelAXB)] += uint64(n.count)
		as.bindings += uint64(n.count)
		stats[n.pool], areas[n.pool] = ps, as
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
		x, party, ok := splitPair(q.key)
		if !ok {
			return fmt.Errorf("malformed quarantine key %q", q.key)
		}
		if err := bk.partyQuar.Put(pairKey(nil, string(party), string(x)), q.until); err != nil {
			return err
		}
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
