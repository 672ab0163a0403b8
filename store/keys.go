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
	bucketNumbers    = []byte("numbers")     // x -> numberRecord (pool_keys.go)
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
		bucketNumbers, bucketPools, bucketQuarantine, bucketQuarExpiry,
		bucketActiveCalls, bucketXAny, bucketXExt, bucketCallers,
		bucketPoolNumbers, bucketPoolIndex, bucketAreaIndex, bucketPoolAreas,
		bucketPartyQuar, bucketPoolSettings,
		bucketOutbox, bucketDead, bucketCallRecords, bucketRecordBinding, bucketRecordOrder, bucketRecordX,
		bucketGrace, bucketGraceKeys, bucketGraceExpiry, bucketXSender, bucketSenderOf,
		bucketMessages, bucketMessageDue, bucketInbox, bucketTrackNos, bucketBindingTracks,
	}

	metaVersion = []byte("version")
)

const (
	sep = 0x00
	// schemaVersion 4 stopped keeping each number's live count in its
	// record (numberRecord says why); opening an older file zeroes those
	// bytes, so a binary that still reads them refuses the file instead of
	// reading counts that are no longer kept. Version 3 (issue 6, pools) added areas, disabled numbers, the
	// dense allocation indexes, the party-keyed quarantine and pool
	// settings, and dropped pool_load; migrate.go upgrades a version 1 or 2
	// file on open. Version 2 (issue 6, bindings: the AXN/AXE buckets and
	// record version 2) kept version 1's pool layout.
	schemaVersion   = 4
	schemaVersionV1 = 1 // the schema before issue 6
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
