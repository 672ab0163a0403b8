package store

import (
	"time"

	"github.com/rs/zerolog"
)

// Defaults for Open.
const (
	DefaultQuarantine    = 24 * time.Hour
	DefaultSweepInterval = 200 * time.Millisecond
	// defaultBatchDelay is the bbolt MaxBatchDelay for writes; 0 means every
	// write is its own Update. See WithBatchDelay.
	defaultBatchDelay = 0
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
	now           func() time.Time
	log           zerolog.Logger
}

func defaultOptions() options {
	return options{
		quarantine:    DefaultQuarantine,
		sweepInterval: DefaultSweepInterval,
		batchDelay:    defaultBatchDelay,
		now:           time.Now,
		log:           zerolog.Nop(),
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

// WithBatchDelay makes concurrent writes share one fsync through bbolt's
// Batch, waiting at most d for company. It pays off only with many
// concurrent writers; 0 (the default) gives each write its own transaction.
func WithBatchDelay(d time.Duration) Option {
	return func(o *options) { o.batchDelay = d }
}

func (o options) validate() error {
	switch {
	case o.quarantine < 0:
		return invalidf("quarantine must not be negative, got %v", o.quarantine)
	case o.sweepInterval <= 0:
		return invalidf("sweep interval must be positive, got %v", o.sweepInterval)
	case o.batchDelay < 0:
		return invalidf("batch delay must not be negative, got %v", o.batchDelay)
	case o.now == nil:
		return invalidf("clock must not be nil")
	}
	return nil
}
