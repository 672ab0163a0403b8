package store

import (
	"encoding/binary"
	"time"
)

// The pool buckets of schema version 2. A pool's enabled numbers are kept
// twice as dense arrays (indexes 0..n-1 with no holes): once for the whole
// pool and once per area, so the allocator draws a uniform random index in
// O(1) gets. A number leaving an array (disable, delete) is swapped with the
// array's last element; each number's record holds its two positions.
var (
	bucketPoolNumbers  = []byte("pool_numbers")  // pool sep x -> "": a pool's numbers in number order (paging)
	bucketPoolIndex    = []byte("pool_index")    // pool sep be32(i) -> x: the pool's enabled numbers
	bucketAreaIndex    = []byte("area_index")    // pool sep area sep be32(i) -> x: the area's enabled numbers
	bucketPoolAreas    = []byte("pool_areas")    // pool sep area -> areaStats
	bucketPartyQuar    = []byte("party_quar")    // party sep x -> be64(until nanos): quarantine by party
	bucketPoolSettings = []byte("pool_settings") // pool -> PoolSettings as JSON, as set
)

// numberRecord is the numbers bucket's value: flags, four reserved bytes,
// its positions in the pool's and the area's dense index (meaningful only
// while enabled), its area and its pool.
//
// The reserved bytes held x's live bindings until schema 4. Keeping that
// count cost every create and every removal a write of x's record: a
// random page of the numbers bucket and its branch, 1.3 of the 8.5 pages
// a create wrote at 1,000,000 bindings. x's bindings are all keyed under
// x in x_party (every model keys its A there), so liveOn counts them from
// the index the create writes anyway. Schema 4 writes zero there.
type numberRecord struct {
	disabled bool
	iPool    uint32
	iArea    uint32
	area     string
	pool     string
}

const (
	numberFlagDisabled = 1 << 0
	numberHeader       = 1 + 4 + 4 + 4 + 1
)

func (r numberRecord) encode() []byte {
	v := make([]byte, 0, numberHeader+len(r.area)+len(r.pool))
	var flags byte
	if r.disabled {
		flags |= numberFlagDisabled
	}
	v = append(v, flags)
	v = binary.BigEndian.AppendUint32(v, 0) // reserved: the count of schema 3
	v = binary.BigEndian.AppendUint32(v, r.iPool)
	v = binary.BigEndian.AppendUint32(v, r.iArea)
	v = append(v, byte(len(r.area)))
	v = append(v, r.area...)
	return append(v, r.pool...)
}

func decodeNumber(v []byte) (numberRecord, bool) {
	if len(v) < numberHeader || v[0]&^numberFlagDisabled != 0 {
		return numberRecord{}, false
	}
	n := int(v[13])
	if len(v) < numberHeader+n {
		return numberRecord{}, false
	}
	return numberRecord{
		disabled: v[0]&numberFlagDisabled != 0,
		iPool:    binary.BigEndian.Uint32(v[5:]),
		iArea:    binary.BigEndian.Uint32(v[9:]),
		area:     string(v[numberHeader : numberHeader+n]),
		pool:     string(v[numberHeader+n:]),
	}, true
}

// parseNumberValue reads the pool of a numbers value.
func parseNumberValue(v []byte) (pool string, ok bool) {
	r, ok := decodeNumber(v)
	return r.pool, ok
}

// indexKey is prefix be32(i), prefix being pool sep (pool_index) or pool sep
// area sep (area_index).
func indexKey(prefix []byte, i uint32) []byte {
	k := make([]byte, 0, len(prefix)+4)
	k = append(k, prefix...)
	return binary.BigEndian.AppendUint32(k, i)
}

func areaPrefix(pool, area string) []byte {
	k := make([]byte, 0, len(pool)+len(area)+2)
	k = append(k, pool...)
	k = append(k, sep)
	k = append(k, area...)
	return append(k, sep)
}

// modelSlot numbers the models for the per-model counters; a record without
// a model is AXB.
func modelSlot(m Model) int {
	switch m {
	case ModelAXN:
		return 1
	case ModelAXE:
		return 2
	}
	return 0
}

const numModels = 3

// poolStats are kept per pool so Pool() reads one key.
type poolStats struct {
	size        uint32 // numbers
	inUse       uint32 // numbers with at least one live binding
	disabled    uint32 // numbers taking no new bindings
	quarantined uint64 // (x, party) pairs in quarantine (until the sweeper purges them)
	bindings    [numModels]uint64
}

const poolStatsLen = 3*4 + 8 + numModels*8

func (s poolStats) total() uint64 {
	var n uint64
	for _, c := range s.bindings {
		n += c
	}
	return n
}

func (s poolStats) encode() []byte {
	v := make([]byte, 0, poolStatsLen)
	v = binary.BigEndian.AppendUint32(v, s.size)
	v = binary.BigEndian.AppendUint32(v, s.inUse)
	v = binary.BigEndian.AppendUint32(v, s.disabled)
	v = binary.BigEndian.AppendUint64(v, s.quarantined)
	for _, c := range s.bindings {
		v = binary.BigEndian.AppendUint64(v, c)
	}
	return v
}

func decodePoolStats(v []byte) (poolStats, bool) {
	if len(v) != poolStatsLen {
		return poolStats{}, false
	}
	s := poolStats{
		size:        binary.BigEndian.Uint32(v),
		inUse:       binary.BigEndian.Uint32(v[4:]),
		disabled:    binary.BigEndian.Uint32(v[8:]),
		quarantined: binary.BigEndian.Uint64(v[12:]),
	}
	for i := range s.bindings {
		s.bindings[i] = binary.BigEndian.Uint64(v[20+8*i:])
	}
	return s, true
}

// areaStats are kept per (pool, area); enabled is also the length of the
// area's dense index, idle the enabled numbers with no live binding.
type areaStats struct {
	size     uint32
	enabled  uint32
	idle     uint32
	inUse    uint32
	bindings uint64
}

const areaStatsLen = 4*4 + 8

func (s areaStats) encode() []byte {
	v := make([]byte, 0, areaStatsLen)
	v = binary.BigEndian.AppendUint32(v, s.size)
	v = binary.BigEndian.AppendUint32(v, s.enabled)
	v = binary.BigEndian.AppendUint32(v, s.idle)
	v = binary.BigEndian.AppendUint32(v, s.inUse)
	return binary.BigEndian.AppendUint64(v, s.bindings)
}

func decodeAreaStats(v []byte) (areaStats, bool) {
	if len(v) != areaStatsLen {
		return areaStats{}, false
	}
	return areaStats{
		size:     binary.BigEndian.Uint32(v),
		enabled:  binary.BigEndian.Uint32(v[4:]),
		idle:     binary.BigEndian.Uint32(v[8:]),
		inUse:    binary.BigEndian.Uint32(v[12:]),
		bindings: binary.BigEndian.Uint64(v[16:]),
	}, true
}

// quarantineValue is be64(until nanos) followed by the binding ID that held
// the pair.
func quarantineValue(until time.Time, id string) []byte { return timeKey(until, []byte(id)) }
