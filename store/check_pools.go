package store

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// checkPools verifies the pool buckets against a full scan of the numbers:
// each number's record, its pool_numbers key and its positions in the two
// dense indexes (each index holds exactly the enabled numbers, without
// holes), and the pool and area counters. live is the bindings per number
// and liveModel the bindings per pool and model, counted from the bindings.
func (bk buckets) checkPools(live map[string]int, liveModel map[string]*[numModels]uint64) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	wantPool := map[string]poolStats{}
	wantArea := map[string]areaStats{} // pool sep area
	poolIdx := map[string]int{}        // pool -> enabled numbers
	areaIdx := map[string]int{}        // pool sep area -> enabled numbers
	_ = bk.numbers.ForEach(func(k, v []byte) error {
		rec, ok := decodeNumber(v)
		if !ok {
			bad("number %s: malformed entry", k)
			return nil
		}
		if reserved := v[1:5]; !bytes.Equal(reserved, []byte{0, 0, 0, 0}) {
			bad("number %s: reserved bytes %x (schema 3's count) not zero", k, reserved)
		}
		n := live[string(k)]
		if got := bk.liveOn(string(k)); got != n {
			bad("number %s: x_party holds %d bindings, but %d live bindings", k, got, n)
		}
		if bk.poolNumbers.Get(pairKey(nil, rec.pool, string(k))) == nil {
			bad("number %s: no pool_numbers key", k)
		}
		ak := string(pairKey(nil, rec.pool, rec.area))
		ps, as := wantPool[rec.pool], wantArea[ak]
		ps.size++
		as.size++
		if n > 0 {
			ps.inUse++
			as.inUse++
		}
		as.bindings += uint64(n)
		if rec.disabled {
			ps.disabled++
		} else {
			as.enabled++
			if n == 0 {
				as.idle++
			}
			poolIdx[rec.pool]++
			areaIdx[ak]++
			if got := bk.poolIndex.Get(indexKey(prefixKey(rec.pool), rec.iPool)); !bytes.Equal(got, k) {
				bad("number %s: pool_index %d holds %q", k, rec.iPool, got)
			}
			if got := bk.areaIndex.Get(indexKey(areaPrefix(rec.pool, rec.area), rec.iArea)); !bytes.Equal(got, k) {
				bad("number %s: area_index %d holds %q", k, rec.iArea, got)
			}
		}
		wantPool[rec.pool], wantArea[ak] = ps, as
		return nil
	})
	if n, want := bk.poolNumbers.Stats().KeyN, bk.numbers.Stats().KeyN; n != want {
		bad("%d pool_numbers keys for %d numbers", n, want)
	}
	// Index entries beyond the enabled count would be holes the allocator
	// never draws, or draws as a disabled number.
	countIdx := func(name string, bucket interface {
		ForEach(func(k, v []byte) error) error
	}, want map[string]int) {
		total := 0
		_ = bucket.ForEach(func(_, _ []byte) error { total++; return nil })
		sum := 0
		for _, n := range want {
			sum += n
		}
		if total != sum {
			bad("%s has %d entries for %d enabled numbers", name, total, sum)
		}
	}
	countIdx("pool_index", bk.poolIndex, poolIdx)
	countIdx("area_index", bk.areaIndex, areaIdx)

	_ = bk.pools.ForEach(func(k, v []byte) error {
		got, ok := decodePoolStats(v)
		if !ok {
			bad("pool %q: malformed stats", k)
			return nil
		}
		want := wantPool[string(k)]
		want.quarantined = got.quarantined // checked with the quarantine
		if m := liveModel[string(k)]; m != nil {
			want.bindings = *m
		}
		if got != want {
			bad("pool %q: stats %+v, full scan says %+v", k, got, want)
		}
		delete(wantPool, string(k))
		return nil
	})
	for pool := range wantPool {
		bad("numbers in pool %q, which has no stats", pool)
	}
	_ = bk.poolAreas.ForEach(func(k, v []byte) error {
		got, ok := decodeAreaStats(v)
		if !ok {
			bad("pool area %q: malformed stats", k)
		} else if got != wantArea[string(k)] {
			bad("pool area %q: stats %+v, full scan says %+v", k, got, wantArea[string(k)])
		}
		delete(wantArea, string(k))
		return nil
	})
	for ak := range wantArea {
		bad("numbers in pool area %q, which has no stats", ak)
	}
	_ = bk.settings.ForEach(func(k, v []byte) error {
		var s PoolSettings
		if err := json.Unmarshal(v, &s); err != nil {
			bad("pool %q: settings do not decode: %v", k, err)
		} else if err := s.Validate(); err != nil {
			bad("pool %q: stored settings invalid: %v", k, err)
		}
		return nil
	})
	return errs
}

// checkQuarantineIndexes verifies that party_quar mirrors the quarantine
// and that each pool counts its quarantined pairs.
func (bk buckets) checkQuarantineIndexes() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	perPool := map[string]uint64{}
	parties := 0
	_ = bk.quarantine.ForEach(func(k, v []byte) error {
		x, _, ok := splitPair(k)
		pk, err := partyQuarKey(k)
		if !ok || err != nil || len(v) < 8 {
			return nil // reported by check
		}
		if pk != nil {
			parties++
			if got := bk.partyQuar.Get(pk); !bytes.Equal(got, v[:8]) {
				bad("quarantine %q: party_quar holds %x, want %x", k, got, v[:8])
			}
		}
		if rec, ok, _ := bk.number(x); ok {
			perPool[rec.pool]++
		}
		return nil
	})
	if n := bk.partyQuar.Stats().KeyN; n != parties {
		bad("%d party_quar keys for %d quarantined parties", n, parties)
	}
	_ = bk.pools.ForEach(func(k, v []byte) error {
		if s, ok := decodePoolStats(v); ok && s.quarantined != perPool[string(k)] {
			bad("pool %q: %d quarantined pairs counted, %d in the quarantine", k, s.quarantined, perPool[string(k)])
		}
		return nil
	})
	return errs
}
