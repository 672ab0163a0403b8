// Package store keeps bindings, number pools, the quarantine of released
// (X, party) pairs and the expiry index. It knows nothing of SIP: numbers are
// canonical digit strings (see number.Country.Normalize) and times are wall-clock.
//
// The Store interface is the contract; Open returns the bbolt implementation.
// A cluster implementation (etcd) must pass the same suite in storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Model is the binding model: AXB, AXN or AXE (policy.go).
type Model string

// ModelAXB binds parties A and B on X: each reaches the other.
const ModelAXB Model = "AXB"

// Binding binds parties to the middle number X until ExpiresAt. For AXB,
// (X, A) and (X, B) each resolve to exactly this binding while it is live.
type Binding struct {
	ID        string    `json:"id"`
	Model     Model     `json:"model"`
	Pool      string    `json:"pool"`
	X         string    `json:"x"`
	A         string    `json:"a"`
	B         string    `json:"b"`
	Extension string    `json:"extension,omitempty"` // AXE
	Area      string    `json:"area,omitempty"`      // X's area
	OrderID   string    `json:"order_id,omitempty"`
	Policy    Policy    `json:"policy,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Counterpart returns the other party of the binding, or "" when party is
// neither A nor B.
func (b Binding) Counterpart(party string) string {
	switch party {
	case b.A:
		return b.B
	case b.B:
		return b.A
	}
	return ""
}

// Expired reports whether the binding is past its expiry at now.
func (b Binding) Expired(now time.Time) bool { return !now.Before(b.ExpiresAt) }

// NewBinding is a request to bind A and B. When X is empty the store picks X
// from Pool under the reuse rule; when X is set it must be in Pool.
type NewBinding struct {
	Model     Model // "" is AXB
	Pool      string
	X         string
	A         string
	B         string // AXB; optional for AXN; none for AXE
	Extension string // AXE: "" allocates one
	Area      string // preferred area of X ("" any)
	AreaMatch AreaMatch
	OrderID   string
	Policy    Policy
	ExpiresAt time.Time
	// TrackNos are parcels' tracking numbers to key to the binding
	// (Tracking).
	TrackNos []string
}

// EndReason says why a binding left the store.
type EndReason string

const (
	EndDeleted EndReason = "deleted"
	EndExpired EndReason = "expired"
)

// Ended is published once for every binding that leaves the store, after the
// removal has been committed.
type Ended struct {
	Binding Binding
	Reason  EndReason
	At      time.Time
}

// Filter selects bindings for List. Empty fields match everything; Party
// matches A or B.
type Filter struct {
	X       string
	Party   string
	OrderID string
	Limit   int // 0 means the store's default (1000)
}

// PoolInfo is a pool's size and use.
type PoolInfo struct {
	Name     string `json:"name"`
	Size     int    `json:"size"`     // numbers in the pool
	InUse    int    `json:"in_use"`   // numbers with at least one live binding
	Bindings int    `json:"bindings"` // live bindings on the pool's numbers
	// Issue 6 (pools.go): the rest; PoolAreas has the use per area.
	Disabled    int         `json:"disabled"`          // numbers taking no new bindings
	ByModel     ModelCounts `json:"bindings_by_model"` // live bindings per model
	Quarantined int         `json:"quarantined"`       // (X, party) pairs in quarantine
}

var (
	// ErrNotFound: no binding (or pool) by that key.
	ErrNotFound = errors.New("not found")
	// ErrEnded: (X, party) has no live binding but had one that ended
	// recently (it is in quarantine). Routing answers 480 rather than 404.
	ErrEnded = errors.New("binding ended")
	// ErrNoNumber: no X in the pool satisfies the reuse rule for this pair
	// (or the pool is empty or unknown).
	ErrNoNumber = errors.New("no number available in pool")
	// ErrPartyBusy: an explicitly requested X already has a live binding (or a
	// quarantined pair) for A or B.
	ErrPartyBusy = errors.New("party already bound on this number")
	// ErrNotInPool: an explicitly requested X is not a number of the pool.
	ErrNotInPool = errors.New("number not in pool")
	// ErrOrderConflict: the order ID is already bound to different parties.
	ErrOrderConflict = errors.New("order id already bound to other parties")
	// ErrInvalid: the request itself is malformed (a number that is not a
	// digit string, A equal to B, an expiry in the past...). The wrapping
	// error names the field. Nothing was written. The API answers 400.
	ErrInvalid = errors.New("invalid request")
)

// Store is the binding store. Every method that writes has committed durably
// (fsync) before it returns nil, except the active-call methods, which are
// written behind (see PutActiveCall).
type Store interface {
	// CreateBinding creates a binding, or returns the live binding with the
	// same OrderID and created=false (a retried request never binds twice).
	CreateBinding(ctx context.Context, nb NewBinding) (b Binding, created bool, err error)
	GetBinding(ctx context.Context, id string) (Binding, error)
	ListBindings(ctx context.Context, f Filter) ([]Binding, error)
	// DeleteBinding removes a binding, quarantines its pairs and publishes
	// Ended{Reason: EndDeleted}.
	DeleteBinding(ctx context.Context, id string) (Binding, error)
	// Lookup resolves (X, party) to its binding. A binding past ExpiresAt but
	// not yet swept is still returned: the caller compares ExpiresAt. A pair in
	// quarantine gives ErrEnded; an unknown pair ErrNotFound.
	Lookup(ctx context.Context, x, party string) (Binding, error)
	Resolver
	// UpdateBinding applies p to the live binding id in one transaction:
	// every change obeys the reuse rule (a party leaving X leaves its pair
	// in quarantine, a party joining X must be free there), and bad input
	// changes nothing (ErrInvalid, ErrPartyBusy, ErrOrderConflict).
	UpdateBinding(ctx context.Context, id string, p Patch) (Binding, error)

	// AddNumbers adds numbers to a pool (creating it), ignoring ones already
	// there; it returns how many were new. A number belongs to one pool only.
	AddNumbers(ctx context.Context, pool string, numbers []string) (added int, err error)
	Pool(ctx context.Context, pool string) (PoolInfo, error)
	// InPool reports whether x is a number of any pool, and which.
	InPool(ctx context.Context, x string) (pool string, ok bool, err error)
	Pools

	// Subscribe returns a channel on which every Ended is delivered, and a
	// function that stops the subscription and closes the channel (so does
	// Close). Delivery blocks the sweeper rather than drop an event, so
	// subscribers must drain promptly; stopping unblocks a pending delivery.
	Subscribe() (<-chan Ended, func())

	// PutActiveCall records (or replaces) the dialog state of an answered
	// call, so that an engine restarted after a crash can end it. Unlike
	// every other write it returns before the record is durable: records
	// are committed together every flush interval, and a put whose delete
	// follows within the interval costs no write at all. A call answered
	// within the last interval before a crash may be missing afterwards.
	PutActiveCall(ctx context.Context, c ActiveCall) error
	// DeleteActiveCall forgets a call's record (written behind, like Put);
	// an unknown ID is not an error.
	DeleteActiveCall(ctx context.Context, id string) error
	// ActiveCalls returns every recorded call, including changes still
	// queued, in no particular order.
	ActiveCalls(ctx context.Context) ([]ActiveCall, error)
	Outbox
	Records
	Messages
	Tracking

	Close() error
}

var (
	// ErrSlotTaken: X's "any caller" slot is taken. An AXN takes it alone,
	// AXE extensions share it: an X holds one AXN, or AXE bindings, never
	// both (or two AXN).
	ErrSlotTaken = errors.New("x's any-caller slot is taken")
	// ErrExtensionTaken: an explicitly requested extension is live or
	// quarantined on that X.
	ErrExtensionTaken = errors.New("extension already used on this number")
)

// Match says how Resolve answered a call to X.
type Match int

const (
	// MatchNone: nothing on X answers this caller (with ErrNotFound or
	// ErrEnded).
	MatchNone Match = iota
	// MatchPair: the caller is a party keyed on X (an AXB party, an AXN's A
	// or B, an AXE's A); Resolution.Binding is that binding.
	MatchPair
	// MatchAnyCaller: X has an AXN and the caller is none of its parties;
	// Resolution.Binding is the AXN.
	MatchAnyCaller
	// MatchExtensions: X carries AXE extensions; the caller must key one
	// (LookupExtension). Resolution.Binding is zero.
	MatchExtensions
	// MatchReached (SMS only): the sender is none of the parties on X but
	// last reached this AXE binding's A through X, by a call or an SMS.
	MatchReached
)

// Resolution is what Resolve knows about a call from caller to X, read in
// one transaction.
type Resolution struct {
	Match   Match
	Binding Binding
	// Pool is X's pool when X is a pool number (every match, and a miss on
	// a pool number); "" means X is in no pool.
	Pool string
	// Settings are the pool's settings, read for MatchExtensions, for an
	// AXE's A (the callback window) and for a miss on a pool number (the
	// unknown-caller policy); zero otherwise.
	Settings PoolSettings
	// LastCaller is who last reached an AXE binding's A through its
	// extension, and when (NoteCaller); set for MatchPair on an AXE.
	LastCaller   string
	LastCallerAt time.Time
}

// Patch changes a binding (UpdateBinding). A nil field is left as it is; a
// pointer to the zero value clears an optional field (B of an AXN, the order
// ID, a policy field back to its default).
type Patch struct {
	A, B      *string
	ExpiresAt *time.Time
	OrderID   *string

	Direction      *Direction
	MaxCallSeconds *int
	WarnSeconds    *int
	CallerDisplay  *CallerDisplay
	Record         *bool
	UserData       *string
	// SMSGraceSeconds: 0 back to the pool's, NoSMSGrace none.
	SMSGraceSeconds *int
	// Webhook: "" back to the pool's.
	Webhook *string
}

// Resolver is what routing reads on a call, beyond Lookup, and what it
// records for callbacks. Store has it.
type Resolver interface {
	// Resolve answers a call from caller to x in one read transaction: the
	// binding of the pair (x, caller) if live, ErrEnded if that pair is in
	// quarantine, else the AXN on x, else whether x carries AXE
	// extensions, else ErrNotFound (with Resolution.Pool set when x is a
	// pool number). A binding past ExpiresAt but not yet swept is returned
	// as Lookup does.
	Resolve(ctx context.Context, x, caller string) (Resolution, error)
	// LookupExtension resolves (x, extension) to its AXE binding; a
	// quarantined extension gives ErrEnded, an unknown one ErrNotFound.
	LookupExtension(ctx context.Context, x, extension string) (Binding, error)
	// NoteCaller records caller as the last one who reached the AXE
	// binding id's A, at at (for A's callback). Durable like every write.
	NoteCaller(ctx context.Context, id, caller string, at time.Time) error
}

// Outbox is where a call's changes, its record and its events are written
// together, and where the events dispatcher takes them from (bolt_outbox.go
// says how the bbolt store keeps them).
type Outbox interface {
	// QueueCall queues ch to be committed in one transaction, written
	// behind like PutActiveCall; ErrOutboxFull when too many events wait
	// for their commit.
	QueueCall(ctx context.Context, ch CallChange) error
	// OutboxAfter returns up to limit committed entries after seq, in
	// order.
	OutboxAfter(ctx context.Context, seq uint64, limit int) ([]OutboxEntry, error)
	// OutboxSignal returns a channel closed when a commit next adds to the
	// outbox, or the store closes.
	OutboxSignal() <-chan struct{}
	// OutboxDone removes delivered entries (written behind: after a crash
	// they may be delivered again).
	OutboxDone(ctx context.Context, seqs ...uint64) error
	// OutboxDead moves an entry to the dead letters, durably.
	OutboxDead(ctx context.Context, seq uint64, attempts int, lastErr string) error
	// DeadEvents pages the dead letters in ID order after the ID after.
	DeadEvents(ctx context.Context, after string, limit int) ([]DeadEvent, error)
	// RetryDead moves a dead event back to the outbox with a new delivery
	// window; ErrNotFound if there is none with that ID.
	RetryDead(ctx context.Context, id string) (OutboxEntry, error)
}

// Records reads the call records QueueCall wrote.
type Records interface {
	// Record returns one record; ErrNotFound if there is none (or it was
	// pruned).
	Record(ctx context.Context, id string) (CallRecord, error)
	// Records pages the records f selects; next is the After of the next
	// page, "" after the last.
	Records(ctx context.Context, f RecordFilter) (page []CallRecord, next string, err error)
}
