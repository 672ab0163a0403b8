// Package sms relays SMS sent to a middle number X as SIP MESSAGE (RFC
// 3428): routed like a call (routing.MessageRouter), answered 202 once
// committed to the store, and delivered through the trunk from X with
// retries until the pool's sms retry period ends: store and forward, so a
// courier's pickup code reaches the buyer when the phone was off, and for
// the binding's SMS grace period after its calls expired.
package sms

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// Store is what the relay needs of the store: the message queue, sender
// notes, and the outbox for the events of messages never queued.
type Store interface {
	AcceptMessage(ctx context.Context, m store.Message, events []store.Event) error
	DueMessages(ctx context.Context, now time.Time, limit int) ([]store.Message, time.Time, error)
	RescheduleMessage(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error
	FinishMessage(ctx context.Context, id, outcome string, events []store.Event) error
	NoteSender(ctx context.Context, id, sender string, at time.Time) error
	QueueCall(ctx context.Context, ch store.CallChange) error
}

// Defaults of the relay's options.
const (
	DefaultRetryMin    = 10 * time.Second
	DefaultRetryMax    = 10 * time.Minute
	DefaultConcurrency = 32
	// sendTimeout bounds one attempt: a non-INVITE transaction's life
	// (64*T1, RFC 3261 17.1.2.2); a phone that is off answers nothing.
	sendTimeout = 32 * time.Second
	// storeTimeout bounds a store call made while a MESSAGE waits.
	storeTimeout = 5 * time.Second
	// maxBody is the largest MESSAGE body accepted (the store's limit).
	maxBody = 16 << 10
	// pollInterval is the longest the delivery loop sleeps without a
	// wake-up: a message rescheduled by another process is noticed then.
	pollInterval = time.Second
	// textPeek is how much of a text body routing reads for an extension.
	textPeek = 64
)

// Option configures a Relay.
type Option func(*Relay)

// WithLogger sets the relay's logger.
func WithLogger(l zerolog.Logger) Option { return func(r *Relay) { r.log = l } }

// WithEvents makes the relay write the SMS events of the pools wants
// accepts (nil: all); without it no event is written.
func WithEvents(wants func(pool string) bool) Option {
	return func(r *Relay) {
		r.events = true
		r.wants = wants
	}
}

// WithRetry sets the back-off between attempts: min, doubling up to max,
// each with up to a quarter of jitter either way.
func WithRetry(min, max time.Duration) Option {
	return func(r *Relay) { r.retryMin, r.retryMax = min, max }
}

// WithConcurrency bounds the deliveries in flight.
func WithConcurrency(n int) Option { return func(r *Relay) { r.concurrency = max(n, 1) } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(r *Relay) { r.now = now } }

// Relay is the SMS relay: the MESSAGE handler and the delivery loop.
type Relay struct {
	edge   *sipedge.Edge
	router *routing.MessageRouter
	st     Store
	log    zerolog.Logger
	now    func() time.Time

	events   bool
	wants    func(pool string) bool
	retryMin time.Duration
	retryMax time.Duration

	concurrency int
	wake        chan struct{}
	mu          sync.Mutex
	inflight    map[string]bool

	stats stats
}

type stats struct {
	received, delivered, failed, blocked, retried atomic.Uint64
}

// Stats are the relay's counters since start.
type Stats struct {
	Received  uint64 // accepted (202)
	Delivered uint64
	Failed    uint64 // given up
	Blocked   uint64 // refused by routing or policy, or not accepted
	Retried   uint64 // attempts that failed and were rescheduled
}

// New builds a relay that routes with router, keeps messages in st and
// sends them through edge's trunk. Register its handler with Register and
// deliver with Run.
func New(edge *sipedge.Edge, router *routing.MessageRouter, st Store, opts ...Option) *Relay {
	r := &Relay{
		edge: edge, router: router, st: st, log: zerolog.Nop(), now: time.Now,
		retryMin: DefaultRetryMin, retryMax: DefaultRetryMax, concurrency: DefaultConcurrency,
		wake: make(chan struct{}, 1), inflight: map[string]bool{},
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Register sets the relay as the edge's MESSAGE handler.
func (r *Relay) Register() { r.edge.OnMessage(r.onMessage) }

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Received: r.stats.received.Load(), Delivered: r.stats.delivered.Load(), Failed: r.stats.failed.Load(),
		Blocked: r.stats.blocked.Load(), Retried: r.stats.retried.Load(),
	}
}

func (r *Relay) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Relay) wanted(pool string) bool { return r.events && (r.wants == nil || r.wants(pool)) }

// onMessage serves a MESSAGE to X: route it, commit it, answer 202, or
// refuse it with routing's status and an sms.blocked event.
func (r *Relay) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	received := r.now()
	log := r.log.With().Str("call_id", sipedge.CallID(req)).Logger()
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// The engine keeps no dialog a MESSAGE could belong to.
		r.edge.Reply(req, tx, sip.StatusCallTransactionDoesNotExists, "")
		return
	}
	body := req.Body()
	if len(body) > maxBody {
		r.edge.Reply(req, tx, sip.StatusRequestEntityTooLarge, "")
		r.stats.blocked.Add(1)
		return
	}
	contentType := ""
	if ct := req.ContentType(); ct != nil {
		contentType = ct.Value()
	}
	m := routing.Message{
		Sender:   sipedge.CallerFrom(req),
		Asserted: sipedge.AssertedCaller(req),
		Dialled:  sipedge.DialledNumber(req),
		Source:   sipedge.SourceAddr(req),
	}
	if events.IsText(contentType) {
		m.Text = string(body[:min(len(body), textPeek)])
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	d := r.router.Route(ctx, m)
	log = log.With().Str("binding_id", d.Binding.ID).Logger()
	if !d.Deliver {
		log.Info().Int("code", d.Code).Str("reason", d.Reason).AnErr("err", d.Err).Msg("sms refused")
		r.edge.Reply(req, tx, d.Code, "")
		r.blocked(ctx, d, contentType, body, received, log)
		return
	}
	msg, err := r.message(d, contentType, body, received)
	if err == nil {
		var evs []store.Event
		if evs, err = r.eventsOf(events.TypeSMSReceived, events.MessageViewOf(msg), msg.Webhook, received); err == nil {
			err = r.st.AcceptMessage(ctx, msg, evs)
		}
	}
	if err != nil {
		code := sip.StatusInternalServerError
		if ctx.Err() != nil {
			code = sip.StatusServiceUnavailable
		}
		log.Error().Err(err).Int("code", code).Msg("sms not accepted")
		r.edge.Reply(req, tx, code, "")
		r.stats.blocked.Add(1)
		return
	}
	r.edge.Reply(req, tx, sip.StatusAccepted, "")
	r.stats.received.Add(1)
	log.Debug().Str("message_id", msg.ID).Bool("grace", msg.Grace).Msg("sms accepted")
	if d.NoteSender {
		if err := r.st.NoteSender(ctx, d.Binding.ID, d.Sender, received); err != nil {
			log.Warn().Err(err).Msg("sms sender not noted: A's reply will not reach them")
		}
	}
	r.kick()
}

// message is the queued form of an SMS routing decided to deliver.
func (r *Relay) message(d routing.MessageDecision, contentType string, body []byte, at time.Time) (store.Message, error) {
	id, err := store.NewMessageID(at)
	if err != nil {
		return store.Message{}, err
	}
	s := d.Settings.WithDefaults()
	return store.Message{
		ID: id, Pool: d.Binding.Pool, BindingID: d.Binding.ID, Model: d.Binding.Model, X: d.X,
		Sender: d.Sender, Receiver: d.Receiver, SenderRole: d.SenderRole, ReceiverRole: d.ReceiverRole,
		OrderID: d.Binding.OrderID, UserData: d.Binding.Policy.UserData, Grace: d.Grace, KeepBody: s.SMS.KeepBodies,
		Webhook:     d.Binding.Policy.Webhook,
		ContentType: contentType, Body: body, ReceivedAt: at, NextAt: at, GiveUpAt: at.Add(s.SMS.Retry),
	}, nil
}

// blocked writes the sms.blocked event of a refused MESSAGE.
func (r *Relay) blocked(ctx context.Context, d routing.MessageDecision, contentType string, body []byte, at time.Time, log zerolog.Logger) {
	r.stats.blocked.Add(1)
	pool := d.Pool
	if !r.wanted(pool) {
		return
	}
	id, err := store.NewMessageID(at)
	if err != nil {
		return
	}
	v := events.MessageViewOf(store.Message{
		ID: id, Pool: pool, BindingID: d.Binding.ID, Model: d.Binding.Model, X: d.X, Sender: d.Sender,
		OrderID: d.Binding.OrderID, UserData: d.Binding.Policy.UserData, ContentType: contentType, Body: body, ReceivedAt: at,
	})
	v.Status, v.Reason, v.Outcome = d.Code, d.Reason, d.Outcome
	ev, err := events.MessageEvent(events.TypeSMSBlocked, v, d.Binding.Policy.Webhook, at)
	if err == nil {
		err = r.st.QueueCall(ctx, store.CallChange{Events: []store.Event{ev}})
	}
	if err != nil {
		log.Warn().Err(err).Msg("sms.blocked event not written")
	}
}

// eventsOf is the event typ of v when its pool wants events, for the
// binding's own webhook ("" the pool's).
func (r *Relay) eventsOf(typ string, v events.MessageView, webhook string, at time.Time) ([]store.Event, error) {
	if !r.wanted(v.Pool) {
		return nil, nil
	}
	ev, err := events.MessageEvent(typ, v, webhook, at)
	if err != nil {
		return nil, err
	}
	return []store.Event{ev}, nil
}
