// Package api serves the HTTP JSON API through which platforms manage number
// pools and bindings. It validates and normalises every number before the
// store sees it; it knows nothing of SIP.
package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/number"
	"github.com/xbridge/xbridge/store"
)

// DefaultMaxTTL bounds how far in the future a binding may expire.
const DefaultMaxTTL = 400 * 24 * time.Hour

// maxBody bounds a request body; a pool upload of a few thousand numbers
// fits.
const maxBody = 64 << 10

// Option configures New.
type Option func(*server)

// WithLogger sets the logger (default: discard). Requests are logged at
// debug level, failures of the store at error level.
func WithLogger(l zerolog.Logger) Option { return func(s *server) { s.log = l } }

// WithCountry sets the default country: the one numbers written without a
// country code belong to (default number.DefaultCountry, China). It must be
// the routing's, so calls find what the API stored.
func WithCountry(c *number.Country) Option {
	return func(s *server) {
		if c != nil {
			s.country = c
		}
	}
}

// WithClock replaces time.Now for turning ttl_seconds into an expiry and
// checking expires_at.
func WithClock(now func() time.Time) Option { return func(s *server) { s.now = now } }

// WithMaxTTL bounds how far in the future a binding may expire (default
// DefaultMaxTTL; a non-positive d keeps the default).
func WithMaxTTL(d time.Duration) Option {
	return func(s *server) {
		if d > 0 {
			s.maxTTL = d
		}
	}
}

type server struct {
	st      store.Store
	status  func() any
	calls   func() []Call
	hangUp  func(callID, reason string) bool
	ready   func() error // nil: ready whenever the API answers
	log     zerolog.Logger
	country *number.Country
	tokens  []*principal           // WithTokens; none: no auth
	wants   func(pool string) bool // WithEvents; nil: no API events
	now     func() time.Time
	maxTTL  time.Duration
	mux     *http.ServeMux
	prompts PromptSetter // nil: prompts are only stored (WithPrompts)
	// recordings is the engine's recording directory (WithRecordings).
	recordings string
	// webhookCheck allows a binding's webhook_url (WithWebhookCheck).
	webhookCheck func(pool, url string) error
}

// route is one endpoint. The table is the single list of what the API
// serves: New registers it and the OpenAPI test checks the document
// against it.
type route struct {
	pattern string
	handle  func(*server, http.ResponseWriter, *http.Request) error
}

var routes = []route{
	{"GET /healthz", (*server).health},
	{"GET /readyz", (*server).readiness},
	{"GET /v1/status", (*server).engineStatus},
	{"GET /v1/calls", (*server).listCalls},
	{"DELETE /v1/calls/{id}", (*server).hangUpCall},
	{"GET /v1/openapi.yaml", (*server).openAPI},
	{"POST /v1/pools/{pool}/numbers", (*server).addNumbers},
	{"GET /v1/pools/{pool}", (*server).getPool},
	{"PUT /v1/pools/{pool}", (*server).putPool},
	{"POST /v1/pools/{pool}/numbers/{x}/disable", (*server).disableNumber},
	{"POST /v1/pools/{pool}/numbers/{x}/enable", (*server).enableNumber},
	{"DELETE /v1/pools/{pool}/numbers/{x}", (*server).deleteNumber},
	{"POST /v1/bindings", (*server).createBinding},
	{"GET /v1/bindings", (*server).listBindings},
	{"GET /v1/bindings/{id}", (*server).getBinding},
	{"PATCH /v1/bindings/{id}", (*server).patchBinding},
	{"DELETE /v1/bindings/{id}", (*server).deleteBinding},
	{"GET /v1/bindings/{id}/messages", (*server).listInbox},
	{"POST /v1/bindings/{id}/track_nos", (*server).addTrackNos},
	{"GET /v1/lookup", (*server).lookup},
	{"GET /v1/records", (*server).listRecords},
	{"GET /v1/records/{id}", (*server).getRecord},
	{"GET /v1/records/{id}/recording", (*server).getRecording},
	{"GET /v1/events/dead", (*server).listDead},
	{"POST /v1/events/dead/{id}/retry", (*server).retryDead},
}

// New returns the API handler over st.
func New(st store.Store, opts ...Option) http.Handler {
	s := &server{
		st:      st,
		log:     zerolog.Nop(),
		country: number.DefaultCountry(),
		now:     time.Now,
		maxTTL:  DefaultMaxTTL,
		mux:     http.NewServeMux(),
	}
	for _, o := range opts {
		o(s)
	}
	for _, rt := range routes {
		h := rt.handle
		s.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h(s, w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s.serve(sw, r)
	s.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", sw.status).
		Dur("took", time.Since(start)).Msg("api request")
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	if len(s.tokens) > 0 && (r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/")) {
		p := s.authenticate(r)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xbridge"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{&apiError{
				status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing or wrong bearer token"}})
			return
		}
		if scope := scopeFor(r.URL.Path); !p.has(scope) && !(scope == ScopeLookup && p.has(ScopeLookupFull)) {
			if r.URL.Path == lookupPath {
				s.lookupEvent(r.Context(), p, r.URL.Query().Get("track_no"), lookupForbidden, nil)
			}
			writeJSON(w, http.StatusForbidden, errorBody{&apiError{
				status: http.StatusForbidden, Code: "forbidden", Message: "this token's scopes do not reach " + r.URL.Path}})
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	}
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// No route: let the mux decide between 404 and 405 (it knows the
	// allowed methods), then answer in JSON like every other error.
	c := &captureWriter{header: http.Header{}}
	s.mux.ServeHTTP(c, r)
	if allow := c.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	// Anything but 405 (a cleaned-path redirect to nowhere) is a 404.
	e := &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint"}
	if c.status == http.StatusMethodNotAllowed {
		e.status, e.Code, e.Message = c.status, "method_not_allowed", "method "+r.Method+" not allowed here"
	}
	writeJSON(w, e.status, errorBody{e})
}

// WithStatus supplies what GET /v1/status reports: the running engine's
// state (active calls, relay ports in use, ...), marshalled as JSON. The API
// knows nothing of SIP or media, so the binary wires it.
func WithStatus(status func() any) Option { return func(s *server) { s.status = status } }

func (s *server) engineStatus(w http.ResponseWriter, _ *http.Request) error {
	if s.status == nil {
		return &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no engine status in this process"}
	}
	writeJSON(w, http.StatusOK, s.status())
	return nil
}

// WithReadiness supplies what GET /readyz checks: nil means the engine
// takes calls (store open, SIP listening, not draining), an error says why
// not. /healthz only says the process answers.
func WithReadiness(ready func() error) Option { return func(s *server) { s.ready = ready } }

func (s *server) readiness(w http.ResponseWriter, _ *http.Request) error {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *server) health(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// captureWriter keeps the status and headers of the mux's own 404/405.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(p), nil
}
