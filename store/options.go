package store

import (
	"time"

	"github.com/rs/zerolog"
)

// Defaults for Open.
const (
	DefaultQuarantine    = 24 * time.Hour
	DefaultSweepInterval = 200 * time.Millisecond
	// DefaultBatchDelay is how long a write that meets other writes in
	// flight waits, once the commit before it is done, to share their fsync
	// (group_commit.go). Measured, with bbolt's Batch then, on
	// the 2-core box with a busy disk: Update alone tops out near 600
	// creates/s at any concurrency; 1 ms batches give 1.2k/s at 8 writers
	// and 4k/s at 128; 200 µs is too short to gather a batch.
	DefaultBatchDelay = time.Millisecond
	// DefaultCallFlush is how often queued active-call records are
	// committed: the crash window of PutActiveCall, and at most one
	// transaction per interval however busy the engine is. At 5 ms the
	// commits alone cost ~4% of the engine's CPU at 1,000 calls/s (perf,
	// docs/PERFORMANCE.md (f)): a call's put and delete seldom shared a
	// window, so every call cost two B+tree writes in 200 commits a second.
	// At 100 ms calls shorter than that never reach the disk and the rest
	// share 10 commits a second.
	DefaultCallFlush = 100 * time.Millisecond
	// DefaultRecordRetention is how long call records and dead events are
	// kept.
	DefaultRecordRetention = 30 * 24 * time.Hour
	// DefaultSMSGrace is how long SMS to an expired binding's parties keep
	// being relayed (a pickup code sent the day after the order closed).
	DefaultSMSGrace = 72 * time.Hour
	// openTimeout bounds the wait for the file lock, so a second process gets
	// an error instead of hanging.
	openTimeout = time.Second
)

// Option configures Open.
type Option func(*options)

type options struct {
	quarantine    time.Duration
	sweepInterval time.Duration
	batchDelay    time.Duration
	callFlush     time.Duration
	// recordRetention is how long call records and dead events are kept
	// (0: for ever).
	recordRetention time.Duration
	// smsGrace is the SMS grace of pools that set none (0: none).
	smsGrace time.Duration
	now      func() time.Time
	log      zerolog.Logger
}

func defaultOptions() options {
	return options{
		quarantine:      DefaultQuarantine,
		sweepInterval:   DefaultSweepInterval,
		batchDelay:      DefaultBatchDelay,
		callFlush:       DefaultCallFlush,
		recordRetention: DefaultRecordRetention,
		smsGrace:        DefaultSMSGrace,
		now:             time.Now,
		log:             zerolog.Nop(),
	}
}

// WithQuarantine sets how long a released (X, party) pair stays out of
// allocation, so a recycled X never rings someone from an old order.
// 0 disables the quarantine.
func WithQuarantine(d time.Duration) Option {
	return func(o *options) { o.quarantine = d }
}

// WithSweepInterval sets how often expired bindings and finished quarantine
// entries are swept. Expiry is noticed at most one interval late.
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) { o.sweepInterval = d }
}

// WithClock replaces time.Now, for tests that move time by hand.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithBatchDelay sets how long a write that finds other writes in flight
// waits to share one transaction and fsync with them (group_commit.go): a
// batch stays open while the commit before it runs and for d after. A
// write on its own always commits at once. 0 gives every write its own
// transaction. Default DefaultBatchDelay.
func WithBatchDelay(d time.Duration) Option {
	return func(o *options) { o.batchDelay = d }
}

// WithCallFlush sets how long active-call changes wait to be committed
// together (see PutActiveCall). A call answered within the last interval
// before a crash may be missed after the restart. Default DefaultCallFlush.
func WithCallFlush(d time.Duration) Option {
	return func(o *options) { o.callFlush = d }
}

func (o options) validate() error {
	switch {
	case o.quarantine < 0:
		return invalidf("quarantine must not be negative, got %v", o.quarantine)
	case o.sweepInterval <= 0:
		return invalidf("sweep interval must be positive, got %v", o.sweepInterval)
	case o.batchDelay < 0:
		return invalidf("batch delay must not be negative, got %v", o.batchDelay)
	case o.callFlush <= 0:
		return invalidf("call flush interval must be positive, got %v", o.callFlush)
	case o.smsGrace < 0 || o.smsGrace > maxSettingDuration:
		return invalidf("sms grace must be 0 to %v, got %v", maxSettingDuration, o.smsGrace)
	case o.recordRetention < 0:
		return invalidf("record retention must not be negative, got %v", o.recordRetention)
	case o.now == nil:
		return invalidf("clock must not be nil")
	}
	return nil
}

// WithRecordRetention sets how long call records and dead events are kept
// before the sweeper removes them; 0 keeps them for ever.
func WithRecordRetention(d time.Duration) Option {
	return func(o *options) { o.recordRetention = d }
}

// WithSMSGrace sets the SMS grace period of pools whose settings set none
// (PoolSettings.SMS.Grace): how long after a binding expires SMS between
// its parties are still relayed, its pairs kept out of reuse meanwhile.
// 0 ends a binding's SMS with its calls. Default DefaultSMSGrace.
func WithSMSGrace(d time.Duration) Option {
	return func(o *options) { o.smsGrace = d }
}
