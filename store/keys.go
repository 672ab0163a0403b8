package store

import (
	"encoding/binary"
	"time"
)

// Bucket names. Composite keys join their parts with sep, a byte that cannot
// occur in digit strings, pool names or binding IDs, so a prefix scan for
// X="123" never matches X="1234".
var (
	bucketMeta       = []byte("meta")        // "version" -> schema version
	bucketBindings   = []byte("bindings")    // id -> record
	bucketXParty     = []byte("x_party")     // x sep party -> id
	bucketPartyX     = []byte("party_x")     // party sep x -> id
	bucketOrder      = []byte("order")       // order id -> id
	bucketExpiry     = []byte("expiry")      // be64(expires nanos) id -> ""
	bucketNumbers    = []byte("numbers")     // x -> be32(live bindings) pool
	bucketPoolLoad   = []byte("pool_load")   // pool sep be32(live bindings) x -> ""
	bucketPools      = []byte("pools")       // pool -> poolStats
	bucketQuarantine = []byte("quarantine")  // x sep party -> be64(until nanos) id
	bucketQuarExpiry = []byte("quar_expiry") // be64(until nanos) x sep party -> ""
	// AXN and AXE (bolt_models.go). A quarantined extension is keyed
	// x sep sep extension in quarantine: parties are never empty, so it
	// cannot meet an (x, party) key.
	bucketXAny    = []byte("x_any")   // x -> id of the AXN holding x's any-caller slot
	bucketXExt    = []byte("x_ext")   // x sep extension -> id (AXE)
	bucketCallers = []byte("callers") // AXE id -> be64(at nanos) last caller

	allBuckets = [][]byte{
		bucketMeta, bucketBindings, bucketXParty, bucketPartyX, bucketOrder, bucketExpiry,
		bucketNumbers, bucketPoolLoad, bucketPools, bucketQuarantine, bucketQuarExpiry,
		bucketActiveCalls, bucketXAny, bucketXExt, bucketCallers,
	}

	metaVersion = []byte("version")
)

const (
	sep = 0x00
	// schemaVersion 2 added x_any, x_ext, callers and record version 2. A
	// version 1 file opens as it is (the new buckets start empty, its
	// records decode) and is marked 2, which older builds refuse.
	schemaVersion   = 2
	schemaVersionV1 = 1
)

// pairKey is x sep party (x_party, quarantine) or party sep x (party_x).
func pairKey(dst []byte, first, second string) []byte {
	dst = append(dst, first...)
	dst = append(dst, sep)
	return append(dst, second...)
}

// prefixKey is s sep: everything keyed under s in a composite bucket.
func prefixKey(s string) []byte {
	return append([]byte(s), sep)
}

// timeKey is be64(nanos) followed by rest; big-endian keeps bbolt's byte order
// equal to time order for every instant after 1970.
func timeKey(t time.Time, rest []byte) []byte {
	k := make([]byte, 0, 8+len(rest))
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
	return append(k, rest...)
}

func expiryKey(b Binding) []byte { return timeKey(b.ExpiresAt, []byte(b.ID)) }

// timeOfKey reads the time prefix of an expiry or quarantine-expiry key.
func timeOfKey(k []byte) (time.Time, bool) {
	if len(k) < 8 {
		return time.Time{}, false
	}
	return unixNano(int64(binary.BigEndian.Uint64(k))), true
}

// loadKey orders a pool's numbers by live bindings, then by number, so the
// allocator's first fit is the least loaded, lowest number.
func loadKey(pool string, count uint32, x string) []byte {
	k := make([]byte, 0, len(pool)+1+4+len(x))
	k = append(k, pool...)
	k = append(k, sep)
	k = binary.BigEndian.AppendUint32(k, count)
	return append(k, x...)
}

// numberValue is be32(live bindings on x) followed by the pool name.
func numberValue(count uint32, pool string) []byte {
	v := make([]byte, 0, 4+len(pool))
	v = binary.BigEndian.AppendUint32(v, count)
	return append(v, pool...)
}

func parseNumberValue(v []byte) (count uint32, pool string, ok bool) {
	if len(v) < 4 {
		return 0, "", false
	}
	return binary.BigEndian.Uint32(v), string(v[4:]), true
}

// poolStats are kept per pool so Pool() reads one key.
type poolStats struct {
	size     uint32 // numbers
	inUse    uint32 // numbers with at least one live binding
	bindings uint64 // live bindings
}

func (s poolStats) encode() []byte {
	v := make([]byte, 0, 16)
	v = binary.BigEndian.AppendUint32(v, s.size)
	v = binary.BigEndian.AppendUint32(v, s.inUse)
	return binary.BigEndian.AppendUint64(v, s.bindings)
}

func decodePoolStats(v []byte) (poolStats, bool) {
	if len(v) != 16 {
		return poolStats{}, false
	}
	return poolStats{
		size:     binary.BigEndian.Uint32(v),
		inUse:    binary.BigEndian.Uint32(v[4:]),
		bindings: binary.BigEndian.Uint64(v[8:]),
	}, true
}

// quarantineValue is be64(until nanos) followed by the binding ID that held
// the pair.
func quarantineValue(until time.Time, id string) []byte { return timeKey(until, []byte(id)) }
