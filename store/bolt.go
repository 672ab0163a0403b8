package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DB is the bbolt implementation of Store: one file, every write fsynced
// before it returns.
type DB struct {
	bolt *bolt.DB
	opts options
	log  zerolog.Logger
	hub  *hub
	// active is the write-behind queue of active-call records.
	active *activeQueue
	// outboxSignal rings when a commit adds to the outbox; outboxLen is
	// its length, counted at open and kept by every change.
	outboxSignal signal
	outboxLen    atomic.Int64
	// outboxTail is what the last flushes committed to the outbox, for
	// the dispatcher to take without reading it back.
	outboxTail outboxTail

	writers   atomic.Int32 // writes in flight, to choose Update or the group
	group     groupCommit
	stop      chan struct{}
	swept     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*DB)(nil)

// Open opens (creating if needed) the store at path and starts its sweeper.
// A file held by another process fails after about a second with an error
// saying so.
func Open(path string, opts ...Option) (*DB, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	bo := *bolt.DefaultOptions
	bo.Timeout = openTimeout
	bo.FreelistType = bolt.FreelistMapType
	bdb, err := bolt.Open(path, 0o600, &bo)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: file is locked by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := initBuckets(bdb); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{
		bolt:   bdb,
		opts:   o,
		log:    o.log.With().Str("component", "store").Logger(),
		hub:    newHub(),
		active: newActiveQueue(),
		stop:   make(chan struct{}),
		group:  groupCommit{bolt: bdb, delay: o.batchDelay, max: maxGroup, moved: make(chan struct{}, 1)},
	}
	db.group.inFlight = &db.writers
	if err := db.countOutbox(); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: open %s: outbox: %w", path, err)
	}
	if err := db.loadWritten(); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: open %s: active calls: %w", path, err)
	}
	db.swept.Add(2)
	go db.sweepLoop()
	go db.activeFlushLoop()
	return db, nil
}

// initBuckets creates the buckets of a new file, or upgrades an older
// schema in the same transaction (migrate.go): a failed upgrade leaves the
// file as it was.
func initBuckets(bdb *bolt.DB) error {
	return bdb.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", bucketMeta, err)
		}
		v := meta.Get(metaVersion)
		fresh := v == nil
		var version uint32 = schemaVersion
		if !fresh {
			if len(v) != 4 {
				return fmt.Errorf("malformed schema version %x", v)
			}
			version = binary.BigEndian.Uint32(v)
		}
		if version > schemaVersion || version < 1 {
			return fmt.Errorf("schema version %d, this build reads 1 to %d", version, schemaVersion)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		// Only a file with schema 1 or 2's pool layout has pool_load; one
		// without it (an older schema's marker on a newer layout) has
		// nothing to upgrade.
		if version < 3 && tx.Bucket(bucketPoolLoadV1) != nil {
			if err := migratePools(tx); err != nil {
				return fmt.Errorf("upgrade schema %d to %d: %w", version, schemaVersion, err)
			}
		}
		if version < 4 {
			if err := zeroNumberCounts(tx); err != nil {
				return fmt.Errorf("upgrade schema %d to %d: %w", version, schemaVersion, err)
			}
		}
		if fresh || version != schemaVersion {
			return meta.Put(metaVersion, binary.BigEndian.AppendUint32(nil, schemaVersion))
		}
		return nil
	})
}

// Close stops the sweeper, commits the queued active-call changes, ends
// every subscription (their channels close) and closes the file. It waits
// for transactions in flight.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stop)
		// Closing the hub first unblocks a sweeper stuck delivering to a
		// subscriber that stopped reading.
		db.hub.close()
		db.swept.Wait()
		db.outboxSignal.ring()
		if err := db.bolt.Close(); err != nil {
			db.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return db.closeErr
}

// Subscribe implements Store. The channel closes when cancel is called or the
// store is closed. DeleteBinding publishes before it returns, so the goroutine
// draining the channel must not itself delete bindings: with a full buffer
// it would wait on itself.
func (db *DB) Subscribe() (<-chan Ended, func()) { return db.hub.subscribe() }

func (db *DB) now() time.Time { return db.opts.now() }

// write runs fn in a durable read-write transaction. With a batch delay and
// another write in flight, fn joins a group commit and shares its fsync
// (group_commit.go); a lone writer takes Update and does not wait out the
// delay. In a group fn may run more than once, so fn must start from
// scratch each time and keep its results in variables it resets.
func (db *DB) write(fn func(tx *bolt.Tx) error) error {
	n := db.group.started()
	defer db.group.ended()
	if db.opts.batchDelay > 0 && n > 1 {
		return db.group.write(fn)
	}
	return db.bolt.Update(fn)
}

// buckets are the buckets of one transaction, fetched once.
type buckets struct {
	bindings, xParty, partyX, order, expiry *bolt.Bucket
	numbers, pools                          *bolt.Bucket
	quarantine, quarExpiry                  *bolt.Bucket
	active                                  *bolt.Bucket
	xAny, xExt, callers                     *bolt.Bucket
	poolNumbers, poolIndex, areaIndex       *bolt.Bucket
	poolAreas, partyQuar, settings          *bolt.Bucket

	// tx opens the buckets only the SMS relay and the grace period use
	// (bolt_grace.go) when a write needs them: every bucket opened costs
	// allocations on every write.
	tx *bolt.Tx
}

// appendFill is how full bbolt packs a page it splits in the buckets whose
// keys lead with the time (binding IDs, expiry keys), where creates append:
// at bbolt's default of half, every page left behind stays half empty.
// etcd packs its append-only keys the same way.
const appendFill = 0.9

func bucketsOf(tx *bolt.Tx) buckets {
	bk := buckets{
		bindings:   tx.Bucket(bucketBindings),
		xParty:     tx.Bucket(bucketXParty),
		partyX:     tx.Bucket(bucketPartyX),
		order:      tx.Bucket(bucketOrder),
		expiry:     tx.Bucket(bucketExpiry),
		numbers:    tx.Bucket(bucketNumbers),
		pools:      tx.Bucket(bucketPools),
		quarantine: tx.Bucket(bucketQuarantine),
		quarExpiry: tx.Bucket(bucketQuarExpiry),
		active:     tx.Bucket(bucketActiveCalls),
		xAny:       tx.Bucket(bucketXAny),
		xExt:       tx.Bucket(bucketXExt),
		callers:    tx.Bucket(bucketCallers),

		poolNumbers: tx.Bucket(bucketPoolNumbers),
		poolIndex:   tx.Bucket(bucketPoolIndex),
		areaIndex:   tx.Bucket(bucketAreaIndex),
		poolAreas:   tx.Bucket(bucketPoolAreas),
		partyQuar:   tx.Bucket(bucketPartyQuar),
		settings:    tx.Bucket(bucketPoolSettings),
		tx:          tx,
	}
	if tx.Writable() {
		bk.bindings.FillPercent = appendFill
		bk.expiry.FillPercent = appendFill
	}
	return bk
}

// getBinding reads and decodes the binding with id, or ErrNotFound.
func (bk buckets) getBinding(id []byte) (Binding, error) {
	v := bk.bindings.Get(id)
	if v == nil {
		return Binding{}, ErrNotFound
	}
	b, err := decodeBinding(v)
	if err != nil {
		return Binding{}, fmt.Errorf("binding %s: %w", id, err)
	}
	if b.Area == "" && bk.numbers != nil {
		// The area is X's: read from X's number record (one get), it can
		// never disagree with the pool. Lookup has no numbers bucket.
		b.Area = bk.areaOf(b.X)
	}
	return b, nil
}

// quarantined reports whether (x, party) is in quarantine at now. An entry
// whose cool-down has passed but that the sweeper has not purged yet counts
// as free.
func (bk buckets) quarantined(key []byte, now time.Time) bool {
	v := bk.quarantine.Get(key)
	if v == nil {
		return false
	}
	until, ok := timeOfKey(v)
	return ok && now.Before(until)
}

// Ping reports whether the file is open and readable: one read transaction
// of the schema version.
func (db *DB) Ping() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(metaVersion) == nil {
			return errors.New("store: no schema version")
		}
		return nil
	})
}
