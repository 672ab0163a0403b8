package events

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/xbridge/xbridge/store"
)

// Event types.
const (
	TypeInitiated = "call.initiated"
	TypeRinging   = "call.ringing"
	TypeAnswered  = "call.answered"
	TypeReleased  = "call.released"
	TypeBlocked   = "call.blocked"
)

// Released-by values.
const (
	ByCaller = "caller"
	ByCallee = "callee"
	ByEngine = "engine"
)

// OutcomeOfStatus is what B's final failure status says about a call that
// did not connect.
func OutcomeOfStatus(status int) string {
	switch status {
	case 486, 600:
		return store.OutcomeBusy
	case 408, 480, 487:
		return store.OutcomeNoAnswer
	}
	if status >= 500 && status < 600 {
		return store.OutcomeTrunkFailure
	}
	return store.OutcomeRejected
}

// Sink is the store's outbox: where a call's changes, record and events
// are queued together. QueueCall is called on the call's own goroutine and
// must not wait for the disk: it queues, and a flush commits.
type Sink interface {
	QueueCall(ctx context.Context, ch store.CallChange) error
}

// Start is what is known of a call when its INVITE arrives.
type Start struct {
	ACallID string
	X       string
	Caller  string
	At      time.Time
}

// Route is what routing chose: the binding and the party called.
type Route struct {
	BindingID  string
	Model      store.Model
	OrderID    string
	UserData   string
	Pool       string
	Extension  string
	CallerRole string
	Callee     string
	CalleeRole string
	Display    string
	// Hook is what the pool's routing hook did (routing.Decision.Hook).
	Hook string
	// Webhook is the binding's own receiver of the call's events.
	Webhook string
}

// Release is how a call ended.
type Release struct {
	By string
	// Status is the SIP status of the release: 200 for a normal BYE, the
	// Reason header's cause for the engine's BYE, B's failure (or what A
	// was told) for a call that did not connect.
	Status int
	// Q850 is the Q.850 cause when the release said one (a Reason header
	// of protocol Q.850); 0 maps Status (RFC 3398).
	Q850       int
	ReasonText string
	// Outcome is store.OutcomeAnswered for a call that was answered, else
	// why it did not connect.
	Outcome string
}

// Call is one call attempt's record in the making. Its methods are called
// by the call's own goroutine in the order things happen (Routed, Ringing,
// Answered, then Released; or Blocked alone) and each queues what the step
// changes. A nil *Call does nothing, so an engine without events pays for
// none.
type Call struct {
	sink Sink
	ctx  context.Context
	// wants says whether a pool's events go anywhere; nil: every pool's
	// do. Records are written either way.
	wants func(pool string) bool
	mu    sync.Mutex
	rec   store.CallRecord
	// routed: call.initiated was queued; ended: the record was.
	routed, rang, ended bool
	// webhook is the binding's own receiver (Route.Webhook).
	webhook string
}

// Begin starts the record of a call whose INVITE arrived at st.At. wants
// (nil: all) says which pools' events go anywhere: the others' are not
// written at all.
func Begin(ctx context.Context, sink Sink, st Start, wants func(pool string) bool) (*Call, error) {
	id, err := store.NewRecordID(st.At)
	if err != nil {
		return nil, err
	}
	return &Call{sink: sink, ctx: ctx, wants: wants, rec: store.CallRecord{
		ID: id, X: st.X, Caller: st.Caller, ACallID: st.ACallID, InvitedAt: st.At,
	}}, nil
}

// Resume takes up the open record of an answered call a crash ended
// before its release, so that Released closes it.
func Resume(ctx context.Context, sink Sink, rec store.CallRecord, wants func(pool string) bool) *Call {
	return &Call{sink: sink, ctx: ctx, wants: wants, rec: rec, routed: true, rang: !rec.RingingAt.IsZero()}
}

// Store is what an engine that writes records needs: the outbox, and the
// records themselves for the calls a restart ends.
type Store interface {
	Sink
	Record(ctx context.Context, id string) (store.CallRecord, error)
}

// ID is the call's record ID ("" for a nil Call).
func (c *Call) ID() string {
	if c == nil {
		return ""
	}
	return c.rec.ID
}

// Routed records the route and that B's INVITE (Call-ID bCallID) went at
// at, and queues call.initiated.
func (c *Call) Routed(r Route, bCallID string, at time.Time) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyRoute(r)
	c.rec.BCallID, c.rec.BSentAt = bCallID, at
	c.routed = true
	return c.queueLocked(store.CallChange{}, TypeInitiated, at)
}

// SetRecording notes how the call's recording went, for the record its
// release writes.
func (c *Call) SetRecording(status, note string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec.Recording, c.rec.RecordingNote = status, note
}

// SetRoute records the route without an event: a call the engine answers
// itself (AXE) learns its binding once the extension is keyed.
func (c *Call) SetRoute(r Route) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyRoute(r)
}

func (c *Call) applyRoute(r Route) {
	c.rec.BindingID, c.rec.Model, c.rec.OrderID, c.rec.UserData = r.BindingID, r.Model, r.OrderID, r.UserData
	c.rec.Pool, c.rec.Extension, c.rec.CallerRole = r.Pool, r.Extension, r.CallerRole
	c.rec.Callee, c.rec.CalleeRole, c.rec.Display = r.Callee, r.CalleeRole, r.Display
	c.rec.Hook = r.Hook
	c.webhook = r.Webhook
}

// Ringing queues call.ringing the first time B rings.
func (c *Call) Ringing(at time.Time) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rang || c.ended {
		return nil
	}
	c.rang, c.rec.RingingAt = true, at
	return c.queueLocked(store.CallChange{}, TypeRinging, at)
}

// Answered queues call.answered with the call's active-call record, in one
// transaction.
func (c *Call) Answered(at time.Time, active *store.ActiveCall) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return nil
	}
	c.rec.AnsweredAt = at
	// The record goes open with the answer, and the active-call record
	// names it: an engine restarted after a crash closes it (Resume).
	rec := c.rec
	if active != nil {
		active.RecordID = rec.ID
	}
	return c.queueLocked(store.CallChange{Active: active, Record: &rec}, TypeAnswered, at)
}

// Released queues call.released and the call's record, with the removal
// of its active-call record (endActive, "" for none), in one transaction.
func (c *Call) Released(at time.Time, rel Release, endActive string) error {
	return c.finish(TypeReleased, at, rel, endActive)
}

// Blocked queues call.blocked and the record of a call refused before
// anyone rang (no binding, direction, policy, untrusted source, overload).
func (c *Call) Blocked(at time.Time, outcome string, status int) error {
	return c.finish(TypeBlocked, at, Release{By: ByEngine, Status: status, Outcome: outcome}, "")
}

func (c *Call) finish(typ string, at time.Time, rel Release, endActive string) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return nil
	}
	c.ended = true
	c.rec.ReleasedAt, c.rec.ReleasedBy = at, rel.By
	c.rec.Status, c.rec.Q850, c.rec.ReasonText = rel.Status, cmp.Or(rel.Q850, Q850(rel.Status)), rel.ReasonText
	c.rec.Outcome = rel.Outcome
	rec := c.rec
	return c.queueLocked(store.CallChange{Record: &rec, EndActive: endActive}, typ, at)
}

func (c *Call) queueLocked(ch store.CallChange, typ string, at time.Time) error {
	if c.wants == nil || c.wants(c.rec.Pool) {
		ev, err := c.eventLocked(typ, at)
		if err != nil {
			return err
		}
		ch.Events = []store.Event{ev}
	} else if ch.Active == nil && ch.EndActive == "" && ch.Record == nil {
		return nil // an event nobody receives, and nothing else
	}
	// No deadline of its own: a Sink only appends to a queue in memory
	// (the bbolt store's never waits on the disk), and a timer context
	// for each of a call's four steps was 15% of their cost
	// (BenchmarkCallEvents).
	return c.sink.QueueCall(c.ctx, ch)
}

// eventLocked builds the event of typ at at: the record as it stands.
func (c *Call) eventLocked(typ string, at time.Time) (store.Event, error) {
	id, err := store.NewEventID(at)
	if err != nil {
		return store.Event{}, err
	}
	p := Payload{ID: id, Type: typ, At: Time(at), Call: ViewOf(c.rec)}
	body := appendPayload(make([]byte, 0, 768), &p)
	return store.Event{ID: id, Type: typ, Stream: c.rec.ID, Pool: c.rec.Pool, BindingID: c.rec.BindingID, Webhook: c.webhook, At: at, Body: body}, nil
}
