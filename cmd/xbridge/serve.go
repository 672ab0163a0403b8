package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge"
	"github.com/xbridge/xbridge/api"
	"github.com/xbridge/xbridge/b2bua"
	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/metrics"
	"github.com/xbridge/xbridge/routehook"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/sms"
	"github.com/xbridge/xbridge/store"
)

// dbFile is the bbolt file inside --data.
const dbFile = "xbridge.db"

// Shutdown bounds: a stuck peer must not keep the process alive forever.
const (
	apiShutdownTimeout  = 10 * time.Second
	callShutdownTimeout = 20 * time.Second
)

// HTTP server limits: the API takes small JSON bodies from platforms, so
// slow or oversized clients are cut off early.
const (
	apiReadHeaderTimeout = 5 * time.Second
	apiReadTimeout       = 15 * time.Second
	apiWriteTimeout      = 30 * time.Second
	apiIdleTimeout       = 120 * time.Second
	apiMaxHeaderBytes    = 64 << 10
)

// serve runs the engine until ctx ends, then shuts down in order: stop
// accepting API requests, end the calls, close the relay, close the store.
// started, when not nil, is told the API's address once SIP and the API
// both accept.
func serve(ctx context.Context, cfg Config, log zerolog.Logger, started func(api net.Addr)) (err error) {
	logSettings(log, cfg)
	warnExposure(log, cfg)

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, dbFile),
		store.WithQuarantine(cfg.Quarantine),
		store.WithRecordRetention(cfg.RecordRetention),
		store.WithSMSGrace(cfg.SMSGrace),
		store.WithLogger(log.With().Str("component", "store").Logger()))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
		}
		log.Info().Msg("store closed")
	}()
	if err := applyPools(ctx, st, cfg.Pools, log); err != nil {
		return err
	}

	relay, err := media.NewRelay(media.Config{IP: cfg.MediaIP, PortMin: cfg.PortMin, PortMax: cfg.PortMax},
		media.WithLogger(log.With().Str("component", "media").Logger()),
		media.WithLearningWindow(cfg.LearningWindow))
	if err != nil {
		return fmt.Errorf("start media relay: %w", err)
	}
	defer func() {
		if cerr := relay.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close media relay: %w", cerr))
		}
		log.Info().Msg("media relay closed")
	}()

	if n := admittedCalls(cfg.MaxCalls, relay.Calls()); n != cfg.MaxCalls {
		log.Warn().Int("max_calls", cfg.MaxCalls).Int("relay_calls", relay.Calls()).
			Str("rtp_ports", fmt.Sprintf("%d-%d", cfg.PortMin, cfg.PortMax)).
			Msg("--max-calls is more than the relay's port range carries; admitting that many")
		cfg.MaxCalls = n
	}

	router := routing.NewRouter(st,
		routing.WithCountry(cfg.Country),
		routing.WithTrusted(cfg.Trusted...),
		routing.WithAllowed(cfg.Allowed...),
		routing.WithHook(routehook.New(webhookSecrets(cfg.Webhooks))),
		routing.WithNoteFailures(func(id string, err error) {
			log.Warn().Err(err).Str("binding_id", id).Msg("caller not recorded: the callback to this caller will not work")
		}))

	lang := cfg.PromptLang
	if lang == "" {
		lang = "zh"
	}
	prompts, err := ivr.LoadPrompts(xbridge.DefaultPrompts, path.Join("testdata/prompts", lang))
	if err != nil {
		return fmt.Errorf("prompts: %w", err)
	}
	if err := loadPoolPrompts(ctx, prompts, cfg.Pools, st, log); err != nil {
		return err
	}
	recordings := filepath.Join(cfg.DataDir, recordingsDir)
	if err := os.MkdirAll(recordings, 0o750); err != nil {
		return fmt.Errorf("create recordings directory: %w", err)
	}
	engine, err := b2bua.New(b2bua.Config{
		Listen:         cfg.SIP.String(),
		Trunk:          cfg.Trunk,
		TrunkTransport: cfg.TrunkTransport,
		AnswerTimeout:  cfg.AnswerTimeout,
		// The call watch ends calls nobody hangs up (call_watch.go).
		RTPTimeout:      cfg.RTPTimeout,
		RTPHoldTimeout:  cfg.RTPHoldTimeout,
		MaxCallDuration: cfg.MaxCallDuration,
		TrunkNumbers:    &cfg.TrunkNumbers,
	}, router, relay, st, b2bua.WithLogger(log.With().Str("component", "b2bua").Logger()),
		b2bua.WithAdmission(newAdmission(cfg, router.Trusted)),
		b2bua.WithPrompts(prompts),
		b2bua.WithEvents(st, wantsEvents(cfg.Webhooks)),
		b2bua.WithRecordings(recordings, poolRecords(st, log)))
	if err != nil {
		return fmt.Errorf("create SIP engine: %w", err)
	}
	smsRelay := sms.New(engine.Edge(), routing.NewMessageRouter(st,
		routing.WithCountry(cfg.Country),
		routing.WithTrusted(cfg.Trusted...),
		routing.WithAllowed(cfg.Allowed...)), st,
		sms.WithLogger(log.With().Str("component", "sms").Logger()),
		sms.WithEvents(wantsEvents(cfg.Webhooks)),
		sms.WithRetry(cfg.SMSRetryMin, cfg.SMSRetryMax))
	smsRelay.Register()

	// draining is set once shutdown begins: /readyz turns 503 so a load
	// balancer stops sending before the API closes.
	var draining atomic.Bool
	apiLog := log.With().Str("component", "api").Logger()
	dispatcher := events.NewDispatcher(st, webhookRoutes(cfg.Webhooks),
		events.WithLogger(log.With().Str("component", "events").Logger()),
		events.WithRetryWindow(cfg.EventRetry))
	handler := http.NewServeMux()
	handler.Handle("GET /metrics", metrics.Handler(metrics.NewRegistry(metricSources(engine, relay, dispatcher, smsRelay, st, log))))
	handler.Handle("/", api.New(st,
		api.WithLogger(apiLog),
		api.WithCountry(cfg.Country),
		api.WithToken(cfg.APIToken),
		api.WithTokens(cfg.APITokens...),
		api.WithEvents(wantsEvents(cfg.Webhooks)),
		api.WithStatus(func() any { return liveStatus(engine, relay) }),
		api.WithCalls(func() []api.Call { return liveCalls(engine) }),
		api.WithHangUp(engine.HangUp),
		api.WithReadiness(func() error { return readiness(engine, st, &draining) }),
		api.WithPrompts(prompts),
		api.WithRecordings(recordings),
		api.WithWebhookCheck(bindingWebhookCheck(cfg.Webhooks))))
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: apiReadHeaderTimeout,
		ReadTimeout:       apiReadTimeout,
		WriteTimeout:      apiWriteTimeout,
		IdleTimeout:       apiIdleTimeout,
		MaxHeaderBytes:    apiMaxHeaderBytes,
		ErrorLog:          stdLogger(apiLog),
	}
	ln, err := net.Listen("tcp", cfg.API)
	if err != nil {
		return fmt.Errorf("listen for API on %s: %w", cfg.API, err)
	}

	// The dispatcher delivers until the calls have ended (their last
	// events are queued by then); what it has not delivered waits in the
	// outbox for the next start.
	stopEvents := startDispatcher(dispatcher, log)
	defer stopEvents()

	// The engine gets its own context: on shutdown the API stops first, and
	// only then are the calls ended.
	engineCtx, endCalls := context.WithCancel(context.Background())
	defer endCalls()
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Serve(engineCtx) }()

	select {
	case <-engine.Ready():
	case err := <-engineDone:
		ln.Close()
		return fmt.Errorf("SIP engine: %w", errOrStopped(err))
	case <-ctx.Done():
		ln.Close()
		endCalls()
		return waitEngine(engineDone, log)
	}

	// SMS are delivered while SIP serves; the relay stops before the
	// calls end, and what it has not delivered waits in the store.
	stopSMS := startSMS(smsRelay)
	defer stopSMS()
	pruneCtx, stopPrune := context.WithCancel(context.Background())
	defer stopPrune()
	go pruneRecordings(pruneCtx, recordings, cfg.RecordRetention, log.With().Str("component", "recordings").Logger())

	apiDone := make(chan error, 1)
	go func() { apiDone <- srv.Serve(ln) }()
	log.Info().Str("sip", cfg.SIP.String()).Str("api", ln.Addr().String()).Msg("xbridge ready")
	if started != nil {
		started(ln.Addr())
	}

	var runErr error
	select {
	case <-ctx.Done():
		draining.Store(true)
		log.Info().Msg("shutting down")
	case err := <-engineDone:
		// The engine is gone: stop the API and close what is left.
		runErr = fmt.Errorf("SIP engine: %w", errOrStopped(err))
		engineDone <- nil
	case err := <-apiDone:
		runErr = fmt.Errorf("API server: %w", err)
		apiDone <- nil
	}

	sctx, cancel := context.WithTimeout(context.Background(), apiShutdownTimeout)
	if err := srv.Shutdown(sctx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("stop API: %w", err))
		srv.Close()
	}
	cancel()
	if err := <-apiDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		runErr = errors.Join(runErr, fmt.Errorf("API server: %w", err))
	}
	log.Info().Msg("API stopped")

	stopSMS()
	log.Info().Msg("sms relay stopped")
	log.Info().Int("active_calls", engine.ActiveCalls()).Msg("ending calls")
	endCalls()
	return errors.Join(runErr, waitEngine(engineDone, log))
}

// waitEngine waits, bounded, for Serve to return after its context ended.
func waitEngine(done <-chan error, log zerolog.Logger) error {
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("SIP engine: %w", err)
		}
		log.Info().Msg("calls ended, SIP stopped")
		return nil
	case <-time.After(callShutdownTimeout):
		return fmt.Errorf("SIP engine did not stop within %s", callShutdownTimeout)
	}
}

// errOrStopped turns a nil error from a server that should not have
// returned into one that says so.
func errOrStopped(err error) error {
	if err == nil {
		return errors.New("stopped unexpectedly")
	}
	return err
}

// logSettings writes the one startup line with every effective setting; the
// API token is reported as set or not, never its value.
func logSettings(log zerolog.Logger, cfg Config) {
	log.Info().
		Str("version", version).
		Str("data", cfg.DataDir).
		Str("sip", cfg.SIP.String()).
		Str("api", cfg.API).
		Str("trunk", cfg.Trunk).
		Str("trunk_transport", cfg.TrunkTransport).
		Str("rtp_ports", fmt.Sprintf("%d-%d", cfg.PortMin, cfg.PortMax)).
		Stringer("rtp_learning_window", cfg.LearningWindow).
		Str("media_ip", cfg.MediaIP.String()).
		Str("log_format", cfg.LogFormat).
		Str("log_level", cfg.LogLevel.String()).
		Stringer("default_country", cfg.Country).
		Stringer("trunk_number_format", cfg.TrunkNumbers.Style).
		Str("trunk_prefix", cfg.TrunkNumbers.Prefix).
		Bool("trunk_user_phone", cfg.TrunkNumbers.UserPhone).
		Strs("trusted", prefixStrings(cfg.Trusted)).
		Bool("api_token_set", cfg.APIToken != "").
		Int("api_tokens", len(cfg.APITokens)).
		Stringer("quarantine", cfg.Quarantine).
		Stringer("sms_grace", cfg.SMSGrace).
		Stringer("sms_retry_min", cfg.SMSRetryMin).
		Stringer("sms_retry_max", cfg.SMSRetryMax).
		Stringer("answer_timeout", cfg.AnswerTimeout).
		Stringer("rtp_timeout", cfg.RTPTimeout).
		Stringer("rtp_hold_timeout", cfg.RTPHoldTimeout).
		Stringer("max_call_duration", cfg.MaxCallDuration).
		Str("config", cfg.ConfigFile).
		Strs("allow", prefixStrings(cfg.Allowed)).
		Bool("insecure", cfg.Insecure).
		Int("max_calls", cfg.MaxCalls).
		Int("max_cps", cfg.MaxCPS).
		Int("max_cps_per_source", cfg.MaxCPSPerSource).
		Msg("starting xbridge")
}

// stdLogger sends net/http's own complaints (TLS, malformed requests)
// through zerolog at warn level.
func stdLogger(l zerolog.Logger) *stdlog.Logger {
	return stdlog.New(warnWriter{l.With().Str("source", "net/http").Logger()}, "", 0)
}

type warnWriter struct{ l zerolog.Logger }

func (w warnWriter) Write(p []byte) (int, error) {
	w.l.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// engineStatus is what GET /v1/status reports about the running engine.
type engineStatus struct {
	ActiveCalls     int                     `json:"active_calls"`
	RelayPortsInUse int                     `json:"relay_ports_in_use"`
	Malformed       sipedge.MalformedStats  `json:"malformed"`
	Admission       *sipedge.AdmissionStats `json:"admission,omitempty"`
}

// liveCalls is the engine's call table as the API lists it.
func liveCalls(e *b2bua.Engine) []api.Call {
	calls := e.Calls()
	out := make([]api.Call, len(calls))
	for i, c := range calls {
		out[i] = api.Call{ACallID: c.ACallID, BCallID: c.BCallID, BindingID: c.BindingID, X: c.X,
			Caller: c.Caller, Callee: c.Callee, Started: c.Started, Answered: c.Answered}
	}
	return out
}

func liveStatus(e *b2bua.Engine, r *media.Relay) engineStatus {
	s := engineStatus{ActiveCalls: e.ActiveCalls(), RelayPortsInUse: r.PortsInUse(), Malformed: e.Malformed()}
	if adm, ok := e.Admission(); ok {
		s.Admission = &adm
	}
	return s
}

// startDispatcher runs the events dispatcher and returns what stops it
// (and waits for it).
func startDispatcher(d *events.Dispatcher, log zerolog.Logger) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			log.Error().Err(err).Msg("events dispatcher stopped")
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// startSMS runs the SMS relay's deliveries and returns what stops them
// (and waits for the attempts under way); calling it twice is safe.
func startSMS(r *sms.Relay) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// readiness is /readyz: SIP listening, the store readable, not shutting
// down.
func readiness(e *b2bua.Engine, st *store.DB, draining *atomic.Bool) error {
	if draining.Load() {
		return errors.New("shutting down")
	}
	select {
	case <-e.Ready():
	default:
		return errors.New("SIP not listening yet")
	}
	if err := st.Ping(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// metricSources are what /metrics reads of the engine, the relay and the
// events dispatcher.
func metricSources(e *b2bua.Engine, r *media.Relay, d *events.Dispatcher, m *sms.Relay, st *store.DB, log zerolog.Logger) metrics.Sources {
	hist := func(h b2bua.Histogram) metrics.Histogram {
		return metrics.Histogram{Bounds: h.Bounds, Counts: h.Counts, Count: h.Count, Sum: h.Sum}
	}
	return metrics.Sources{
		SetupLatency: func() map[string]metrics.Histogram {
			out := map[string]metrics.Histogram{}
			for stage, h := range e.SetupLatency() {
				out[stage] = hist(h)
			}
			return out
		},
		TalkTime: func() metrics.Histogram { return hist(e.TalkTime()) },
		Outbox: func() (int, time.Time) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, oldest, err := st.OutboxDepth(ctx)
			if err != nil {
				log.Warn().Err(err).Msg("outbox depth not read for /metrics")
			}
			return n, oldest
		},
		Relay: func() map[string]metrics.RelayFlow {
			st := r.Stats()
			flow := func(f media.Flow) metrics.RelayFlow {
				return metrics.RelayFlow{RTPPackets: f.RTPPackets, RTPBytes: f.RTPBytes, RTCPPackets: f.RTCPPackets,
					RTCPBytes: f.RTCPBytes, Invalid: f.Dropped, Strangers: f.Strangers}
			}
			return map[string]metrics.RelayFlow{"a_to_b": flow(st.AToB), "b_to_a": flow(st.BToA)}
		},
		Pools: func() []metrics.PoolStats {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			pools, err := st.AllPools(ctx)
			if err != nil {
				log.Warn().Err(err).Msg("pool figures not read for /metrics")
				return nil
			}
			out := make([]metrics.PoolStats, len(pools))
			for i, p := range pools {
				out[i] = metrics.PoolStats{Name: p.Name, Numbers: p.Size, InUse: p.InUse, Disabled: p.Disabled, Quarantined: p.Quarantined,
					Bindings: map[string]int{"AXB": p.ByModel.AXB, "AXN": p.ByModel.AXN, "AXE": p.ByModel.AXE}}
			}
			return out
		},
		Events: func() metrics.EventStats {
			st := d.Stats()
			return metrics.EventStats{Held: st.Held, Delivered: st.Delivered, Dead: st.Dead, Posts: st.Posts}
		},
		SMS: func() metrics.SMSStats {
			s := m.Stats()
			return metrics.SMSStats{Received: s.Received, Delivered: s.Delivered, Failed: s.Failed, Blocked: s.Blocked, Retried: s.Retried}
		},
		SMSQueue: func() (int, time.Time) {
			n, oldest, err := st.MessageQueue(context.Background())
			if err != nil {
				log.Warn().Err(err).Msg("metrics: sms queue unreadable")
			}
			return n, oldest
		},
		ActiveCalls:     e.ActiveCalls,
		Outcomes:        e.Outcomes,
		RelayPortsInUse: r.PortsInUse,
		Malformed: func() map[string]uint64 {
			m := e.Malformed()
			return map[string]uint64{"answered": m.Answered, "dropped": m.Dropped, "refused": m.Refused}
		},
		AdmissionRefused: func() map[string]uint64 {
			a, ok := e.Admission()
			if !ok {
				return nil
			}
			return map[string]uint64{"calls": a.RefusedCalls, "rate": a.RefusedRate, "source": a.RefusedSource}
		},
	}
}
