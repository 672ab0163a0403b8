package store

import (
	"bytes"
	"fmt"
	"time"
)

// A quarantined (x, party) pair has three keys: quarantine (x sep party ->
// until, id), quar_expiry (until x sep party, for the sweeper) and
// party_quar (party sep x -> until, so the allocator finds a party's
// quarantined numbers without scanning the pool). A quarantined AXE
// extension is keyed x sep sep extension in the same buckets and has no
// party_quar key. The pool of x counts both kinds, so Pool() need not scan.

// partyQuarKey is the party_quar key of a quarantine key, or nil for an
// extension's.
func partyQuarKey(key []byte) ([]byte, error) {
	x, party, ok := splitPair(key)
	if !ok {
		return nil, fmt.Errorf("malformed quarantine key %q", key)
	}
	if len(party) > 0 && party[0] == sep {
		return nil, nil
	}
	return pairKey(nil, string(party), string(x)), nil
}

// splitPair cuts an x sep party key.
func splitPair(key []byte) (x, party []byte, ok bool) {
	i := bytes.IndexByte(key, sep)
	if i < 0 {
		return nil, nil, false
	}
	return key[:i], key[i+1:], true
}

func (bk buckets) putQuarantine(key []byte, until time.Time, id string) error {
	if err := bk.clearQuarantine(key); err != nil {
		return err
	}
	pk, err := partyQuarKey(key)
	if err != nil {
		return err
	}
	if err := bk.quarantine.Put(key, quarantineValue(until, id)); err != nil {
		return err
	}
	if err := bk.quarExpiry.Put(timeKey(until, key), []byte{}); err != nil {
		return err
	}
	if pk != nil {
		if err := bk.partyQuar.Put(pk, timeKey(until, nil)); err != nil {
			return err
		}
	}
	x, _, _ := splitPair(key)
	return bk.countQuarantine(x, +1)
}

// clearQuarantine removes the entry for key and its other keys, if any.
func (bk buckets) clearQuarantine(key []byte) error {
	v := bk.quarantine.Get(key)
	if v == nil {
		return nil
	}
	until, ok := timeOfKey(v)
	if !ok {
		return fmt.Errorf("malformed quarantine entry %q", key)
	}
	if err := bk.quarExpiry.Delete(timeKey(until, key)); err != nil {
		return err
	}
	return bk.dropQuarantine(key)
}

// dropQuarantine removes the quarantine and party_quar keys of key (its
// quar_expiry key is the caller's) and counts it out of its pool.
func (bk buckets) dropQuarantine(key []byte) error {
	pk, err := partyQuarKey(key)
	if err != nil {
		return err
	}
	if err := bk.quarantine.Delete(key); err != nil {
		return err
	}
	if pk != nil {
		if err := bk.partyQuar.Delete(pk); err != nil {
			return err
		}
	}
	x, _, _ := splitPair(key)
	return bk.countQuarantine(x, -1)
}

// countQuarantine moves the quarantined-pair count of x's pool. A pair on a
// number that is in no pool (it cannot be: a number with a quarantined pair
// cannot be deleted) counts nowhere.
func (bk buckets) countQuarantine(x []byte, delta int) error {
	rec, ok, err := bk.number(x)
	if err != nil || !ok {
		return err
	}
	ps, err := bk.poolStatsOf(rec.pool)
	if err != nil {
		return err
	}
	if delta < 0 && ps.quarantined == 0 {
		return fmt.Errorf("pool %q: quarantined count would go below zero", rec.pool)
	}
	ps.quarantined = uint64(int64(ps.quarantined) + int64(delta))
	return bk.putPoolStats(rec.pool, ps)
}
