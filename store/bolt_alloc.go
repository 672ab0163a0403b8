package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// maxFitDraws bounds the random draws that a candidate fit check (fitFunc)
// may refuse before the allocator falls back to a scan from a random offset.
const maxFitDraws = 16

// fitFunc is a per-candidate check beyond the reuse rule of the parties
// (which the taken set below enforces exactly): the models whose fit depends
// on X itself (an AXN needs X's free "any caller" slot, an AXE a free
// extension) supply one, e.g. bk.fits bound to the request. nil accepts
// every candidate.
type fitFunc func(x []byte) bool

// pickNumber applies the reuse rule: (X, A) and (X, B) must be neither live
// nor quarantined, and X must be enabled. An explicit X is checked;
// otherwise X is drawn at random, uniformly among the numbers that fit
// (spreading calls over the carrier's trunks), from the requested area
// first, then (area_match loose) from the whole pool.
func (db *DB) pickNumber(bk buckets, nb NewBinding, now time.Time) (string, error) {
	var fit fitFunc
	if nb.Model != "" && nb.Model != ModelAXB {
		// An AXN or AXE also needs X's any-caller slot (bk.fits), which
		// the parties' taken set cannot say.
		fit = func(x []byte) bool { return bk.fits(x, nb, now) }
	}
	return db.pick(bk, nb, now, fit)
}

// pick is pickNumber with a fit check. Its cost, with t the numbers on which
// A or B has a live binding or a quarantined pair: O(t log t) to build the
// taken set, then one draw of O(t) plus two gets, for fit == nil exactly
// uniform over the rest. With a fit check each refusal costs one more draw,
// up to maxFitDraws; past that, a scan from a random offset checks every
// remaining number: O(pool) in the worst case, which only a pool nearly
// full for this model reaches.
func (db *DB) pick(bk buckets, nb NewBinding, now time.Time, fit fitFunc) (string, error) {
	if err := CheckArea(nb.Area); err != nil {
		return "", err
	}
	switch nb.AreaMatch {
	case "", AreaStrict, AreaLoose:
	default:
		return "", invalidf("area_match %q is neither %q nor %q", nb.AreaMatch, AreaStrict, AreaLoose)
	}
	ps, err := bk.poolStatsOf(nb.Pool)
	if err != nil {
		return "", fmt.Errorf("store: pool %q does not exist: %w", nb.Pool, ErrNoNumber)
	}
	parties := make([]string, 0, 2)
	for _, p := range [2]string{nb.A, nb.B} {
		if p != "" {
			parties = append(parties, p)
		}
	}
	if nb.X != "" {
		return bk.checkExplicit(nb, parties, now, fit)
	}
	taken, err := bk.takenNumbers(parties, now)
	if err != nil {
		return "", err
	}
	if nb.Area != "" {
		as, err := bk.areaStatsOf(nb.Pool, nb.Area)
		if err != nil {
			return "", err
		}
		d := draw{bk: bk, index: bk.areaIndex, prefix: areaPrefix(nb.Pool, nb.Area), n: as.enabled,
			pos: func(r numberRecord) (uint32, bool) { return r.iArea, r.pool == nb.Pool && r.area == nb.Area }}
		x, ok, err := d.pick(taken, fit)
		if err != nil || ok {
			return x, err
		}
		if nb.AreaMatch != AreaLoose {
			return "", fmt.Errorf("store: pool %q has no number of area %s free for %s and %s: %w", nb.Pool, nb.Area, nb.A, nb.B, ErrNoAreaNumber)
		}
	}
	d := draw{bk: bk, index: bk.poolIndex, prefix: prefixKey(nb.Pool), n: ps.size - ps.disabled,
		pos: func(r numberRecord) (uint32, bool) { return r.iPool, r.pool == nb.Pool }}
	x, ok, err := d.pick(taken, fit)
	if err != nil || ok {
		return x, err
	}
	return "", fmt.Errorf("store: pool %q has no number free for %s and %s: %w", nb.Pool, nb.A, nb.B, ErrNoNumber)
}

// checkExplicit checks a requested X: in the pool, enabled, of the area
// when the area is strict, and free for the parties.
func (bk buckets) checkExplicit(nb NewBinding, parties []string, now time.Time, fit fitFunc) (string, error) {
	rec, ok, err := bk.number([]byte(nb.X))
	if err != nil {
		return "", err
	}
	switch {
	case !ok || rec.pool != nb.Pool:
		return "", fmt.Errorf("store: x %s in pool %q: %w", nb.X, nb.Pool, ErrNotInPool)
	case rec.disabled:
		return "", fmt.Errorf("store: x %s: %w", nb.X, ErrNumberDisabled)
	case nb.Area != "" && nb.AreaMatch != AreaLoose && rec.area != nb.Area:
		return "", fmt.Errorf("store: x %s is in area %q, not %s: %w", nb.X, rec.area, nb.Area, ErrNoAreaNumber)
	}
	var scratch [2 * (maxPoolNumber + maxParty + 1)]byte
	for _, p := range parties {
		k := pairKey(scratch[:0], nb.X, p)
		if bk.xParty.Get(k) != nil || bk.quarantined(k, now) {
			return "", fmt.Errorf("store: %s on x %s: %w", p, nb.X, ErrPartyBusy)
		}
	}
	if err := misfitError(bk.misfit([]byte(nb.X), nb, now), nb); err != nil {
		return "", err
	}
	return nb.X, nil
}

// takenNumbers returns the numbers no binding of these parties may get: the
// ones where a party has a live binding or a quarantined pair, and the
// parties themselves (a party that is a pool number must not be its own X).
func (bk buckets) takenNumbers(parties []string, now time.Time) ([][]byte, error) {
	var taken [][]byte
	for _, p := range parties {
		taken = append(taken, []byte(p))
		prefix := prefixKey(p)
		c := bk.partyX.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			taken = append(taken, bytes.Clone(k[len(prefix):]))
		}
		c = bk.partyQuar.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			until, ok := timeOfKey(v)
			if !ok {
				return nil, fmt.Errorf("store: malformed party quarantine entry %q", k)
			}
			if now.Before(until) {
				taken = append(taken, bytes.Clone(k[len(prefix):]))
			}
		}
	}
	return taken, nil
}

// draw is one dense index (a pool's or an area's enabled numbers) to draw
// from: n entries under prefix; pos gives a number's position in it, and
// whether the number is in it at all.
type draw struct {
	bk     buckets
	index  interface{ Get([]byte) []byte }
	prefix []byte
	n      uint32
	pos    func(numberRecord) (uint32, bool)
}

// pick draws a number uniformly among the index's entries outside taken
// that fit. ok is false when none does.
func (d draw) pick(taken [][]byte, fit fitFunc) (x string, ok bool, err error) {
	if d.n == 0 {
		return "", false, nil
	}
	skip := make([]uint32, 0, len(taken))
	for _, t := range taken {
		rec, found, err := d.bk.number(t)
		if err != nil {
			return "", false, err
		}
		if !found || rec.disabled {
			continue
		}
		if i, in := d.pos(rec); in && i < d.n {
			skip = append(skip, i)
		}
	}
	slices.Sort(skip)
	skip = slices.Compact(skip)
	for range maxFitDraws {
		free := d.n - uint32(len(skip))
		if free == 0 {
			return "", false, nil
		}
		i := nthFree(skip, rand.Uint32N(free))
		x, err := d.at(i)
		if err != nil {
			return "", false, err
		}
		if fit == nil || fit(x) {
			return string(x), true, nil
		}
		j, _ := slices.BinarySearch(skip, i)
		skip = slices.Insert(skip, j, i)
	}
	// Many refusals: the pool is nearly full for this model. Check the rest
	// once each, from a random offset so the survivors are not always the
	// same low positions.
	start := rand.Uint32N(d.n)
	for k := range d.n {
		i := (start + k) % d.n
		if _, found := slices.BinarySearch(skip, i); found {
			continue
		}
		x, err := d.at(i)
		if err != nil {
			return "", false, err
		}
		if fit(x) {
			return string(x), true, nil
		}
	}
	return "", false, nil
}

// at reads the number at position i.
func (d draw) at(i uint32) ([]byte, error) {
	x := d.index.Get(indexKey(d.prefix, i))
	if x == nil {
		return nil, fmt.Errorf("store: index %q has no entry %d of %d", d.prefix, i, d.n)
	}
	return x, nil
}

// nthFree returns the r-th position (from 0) not in skip, which is sorted,
// free of duplicates and holds positions below the index length.
func nthFree(skip []uint32, r uint32) uint32 {
	for _, s := range skip {
		if s > r {
			break
		}
		r++
	}
	return r
}

// areaOf returns the area of number x ("" for none, or x in no pool). It
// is on the call path (Lookup): it decodes the area alone, and an empty one
// costs no allocation.
func (bk buckets) areaOf(x string) string {
	var scratch [maxPoolNumber + 1]byte
	v := bk.numbers.Get(append(scratch[:0], x...))
	if len(v) < numberHeader || len(v) < numberHeader+int(v[13]) {
		return ""
	}
	return string(v[numberHeader : numberHeader+int(v[13])])
}
