// Package b2bua is the call logic of xbridge: it takes the carrier's INVITE
// for a middle number X (the A leg), asks routing who to call, places the B
// leg through the outbound trunk showing X, anchors media through the relay,
// mirrors what one leg asks of the other and tears both legs down together.
// The SIP plumbing (listeners, vetting, the UAC leg, header policy) is
// sipedge's; b2bua owns the calls.
package b2bua

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/number"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// Config is the SIP side of the engine's configuration.
type Config struct {
	// Listen is the address SIP is served on, UDP and TCP alike.
	Listen string
	// Trunk is the host:port of the outbound trunk every B leg is sent to.
	Trunk string
	// TrunkTransport is "udp" (default) or "tcp".
	TrunkTransport string
	// AnswerTimeout bounds how long a B leg may ring: past it the B leg is
	// cancelled and A gets 408. Default 60 s.
	AnswerTimeout time.Duration
	// StoreTimeout bounds every store read on a call's path (routing, the
	// binding check): past it the call gets 503, so a slow store cannot hold
	// every INVITE's goroutine. Default 2 s.
	StoreTimeout time.Duration
	// RTPTimeout ends a call whose media from either party has been silent
	// this long (BYE on both legs, Reason 408 "media timeout"); while the
	// call is on hold RTPHoldTimeout applies instead. MaxCallDuration ends
	// any call that long after its answer. 0 disables each (call_watch.go).
	RTPTimeout      time.Duration
	RTPHoldTimeout  time.Duration
	MaxCallDuration time.Duration
	// TrunkNumbers is how the B leg writes the callee and X towards the
	// trunk; nil is number.DefaultTrunk() (+E.164 with user=phone).
	TrunkNumbers *number.Trunk
}

// Store is what the engine needs of the store: whether a binding still
// exists, word of every binding that ends, and the records of answered
// calls that let a restarted engine end them (call_persist.go, restart.go).
// store.Store has it.
type Store interface {
	GetBinding(ctx context.Context, id string) (store.Binding, error)
	// PoolSettings says what a pool does with calls up when their binding
	// expires (store.ExpiryPolicy): read when a binding expires and near
	// an answered call's expiry, never on the call path.
	PoolSettings(ctx context.Context, pool string) (store.PoolSettings, error)
	Subscribe() (<-chan store.Ended, func())
	PutActiveCall(ctx context.Context, c store.ActiveCall) error
	DeleteActiveCall(ctx context.Context, id string) error
	ActiveCalls(ctx context.Context) ([]store.ActiveCall, error)
}

// Option configures an Engine.
type Option func(*Engine)

// WithLogger sets the engine's logger; every call's lines carry its call ID
// and binding ID on top of it.
func WithLogger(l zerolog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithEdgeOptions passes options to the SIP edge the engine builds.
func WithEdgeOptions(opts ...sipedge.Option) Option {
	return func(e *Engine) { e.edgeOpts = append(e.edgeOpts, opts...) }
}

// Engine is the B2BUA: the calls between the SIP edge, routing and the relay.
type Engine struct {
	cfg    Config
	router *routing.Router
	relay  *media.Relay
	store  Store
	events events.Store // nil: no call records or events (call_record.go)
	// wantEvents says which pools' events go anywhere (WithEvents).
	wantEvents func(pool string) bool
	// recordDir is where calls are recorded (WithRecordings; "": none).
	recordDir   string
	poolRecords func(pool string) RecordingPolicy
	outcomes    outcomeCounts
	stats       callStats
	log         zerolog.Logger
	edgeOpts    []sipedge.Option

	edge    *sipedge.Edge
	calls   *callTable
	prompts *ivr.Prompts // nil: calls the engine would answer are refused
	// warnTone is played to both parties before a binding's call limit.
	warnTone *media.Sound
	menu     ivr.Config
	watch    watchOptions
	// admission is nil without limits (admission.go); the log budgets keep
	// a flood's refusals from flooding the log.
	admission                       *sipedge.Admission
	refusedLog, rejectLog, strayLog logBudget
	// ctx is Serve's: what a call does on the engine's behalf derives its
	// context from it.
	ctx context.Context

	ready     chan struct{}
	readyOnce sync.Once
}

// New builds an engine. It does not listen until Serve.
func New(cfg Config, router *routing.Router, relay *media.Relay, st Store, opts ...Option) (*Engine, error) {
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = 60 * time.Second
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 2 * time.Second
	}
	e := &Engine{
		cfg:    cfg,
		router: router,
		relay:  relay,
		store:  st,
		log:    zerolog.Nop(),
		calls:  newCallTable(),
		stats:  newCallStats(),
		ctx:    context.Background(), // until Serve
		ready:  make(chan struct{}),
	}
	for _, o := range opts {
		o(e)
	}
	if router == nil || relay == nil || st == nil {
		return nil, errors.New("b2bua: router, relay and store are required")
	}
	if err := cfg.checkWatch(); err != nil {
		return nil, err
	}
	var err error
	if e.warnTone, err = media.NewTone(media.WarningBeep); err != nil {
		return nil, fmt.Errorf("b2bua: warning tone: %w", err)
	}
	edgeOpts := append([]sipedge.Option{sipedge.WithLogger(e.log), sipedge.WithCancelScreen(e.cancelAllowed)}, e.edgeOpts...)
	if e.admission != nil {
		edgeOpts = append(edgeOpts, e.refuseEarly())
	}
	edge, err := sipedge.New(sipedge.Config{Listen: cfg.Listen, Trunk: cfg.Trunk, TrunkTransport: cfg.TrunkTransport, TrunkNumbers: cfg.TrunkNumbers}, edgeOpts...)
	if err != nil {
		return nil, fmt.Errorf("b2bua: %w", err)
	}
	e.edge = edge
	edge.OnInvite(e.onInvite)
	edge.OnAck(e.onAck)
	edge.OnBye(e.onBye)
	edge.OnInfo(e.onInDialog)
	edge.OnUpdate(e.onInDialog)
	return e, nil
}

// Ready is closed once both listeners accept traffic.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Malformed reports how much bad input the SIP edge has refused.
func (e *Engine) Malformed() sipedge.MalformedStats { return e.edge.Malformed() }

// ActiveCalls is the number of calls being set up or in progress.
func (e *Engine) ActiveCalls() int { return e.calls.len() }

// Serve listens on UDP and TCP and serves calls until ctx is done; then it
// ends every call (BYE on both legs) and returns.
func (e *Engine) Serve(ctx context.Context) error {
	ended, unsubscribe := e.store.Subscribe()
	defer unsubscribe()
	e.ctx = ctx                       // before the listeners start: every handler sees it
	leftovers := e.leftoverCalls(ctx) // before any call of this run exists

	errc, err := e.edge.Start()
	if err != nil {
		return fmt.Errorf("b2bua: %w", err)
	}
	guardCtx, stopGuards := context.WithCancel(ctx)
	leftoversEnded := e.endLeftovers(guardCtx, leftovers)
	watchStopped := e.startWatch(guardCtx)
	// Ready once everything the engine runs beside its calls is running:
	// a caller that counts the goroutines (a leak test) or calls at once
	// finds the engine whole.
	e.readyOnce.Do(func() { close(e.ready) })

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case end, ok := <-ended:
			if !ok {
				break loop
			}
			e.endBinding(end)
		case err := <-errc:
			if !sipedge.IsClosed(err) {
				serveErr = fmt.Errorf("b2bua: serve: %w", err)
			}
			break loop
		}
	}

	stopGuards()
	watchStopped()
	e.endAll(sip.NewHeader("Reason", `SIP;cause=503;text="xbridge shutting down"`))
	leftoversEnded()
	e.edge.Close()
	return serveErr
}

// storeContext bounds a store read on a call's path.
func (e *Engine) storeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.cfg.StoreTimeout)
}

// endBinding tears down every call of a binding that left the store.
func (e *Engine) endBinding(end store.Ended) {
	calls := e.calls.byBinding(end.Binding.ID)
	if len(calls) == 0 {
		return
	}
	if end.Reason == store.EndExpired && e.expiryPolicy(end.Binding.Pool).Mode == store.ExpiryFinish {
		// The pool lets calls up at expiry run to their end; new ones are
		// refused (routing: 480).
		for _, c := range calls {
			c.log.Info().Msg("binding expired during call: the call runs on (pool expiry policy finish)")
		}
		return
	}
	reason := sip.NewHeader("Reason", fmt.Sprintf(`SIP;cause=480;text="binding %s"`, end.Reason))
	for _, c := range calls {
		c.log.Info().Str("reason", string(end.Reason)).Msg("binding ended during call")
		// Not on this goroutine: it delivers the store's events, and a call
		// busy for a moment must not hold them up.
		go c.terminate(reason, sip.StatusTemporarilyUnavailable)
	}
}

// expiryPolicy is a pool's, read within the store deadline; a store that
// cannot say gives the default (teardown without warning), the safe side
// for the privacy of a binding that ended.
func (e *Engine) expiryPolicy(pool string) store.ExpiryPolicy {
	ctx, cancel := e.storeContext()
	defer cancel()
	ps, err := e.store.PoolSettings(ctx, pool)
	if err != nil {
		e.log.Warn().Err(err).Str("pool", pool).Msg("pool settings unreadable: expiry tears calls down")
		return store.ExpiryPolicy{Mode: store.ExpiryTeardown}
	}
	return ps.Expiry
}

// endAll ends every call and waits (bounded) for them to end.
func (e *Engine) endAll(reason sip.Header) {
	calls := e.calls.all()
	for _, c := range calls {
		go c.terminate(reason, sip.StatusServiceUnavailable)
	}
	deadline := time.After(shutdownWait)
	for _, c := range calls {
		select {
		case <-c.stopped:
		case <-deadline:
			e.log.Warn().Int("calls", e.calls.len()).Msg("calls still ending at shutdown")
			return
		}
	}
}

// shutdownWait bounds how long Serve waits for the calls to end.
const shutdownWait = 5 * time.Second

// Edge is the engine's SIP edge, for the handlers of what is not a call
// (the SMS relay's MESSAGE) to be set on before Serve.
func (e *Engine) Edge() *sipedge.Edge { return e.edge }
