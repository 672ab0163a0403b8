package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/number"
	"github.com/xbridge/xbridge/store"
)

const lookupPath = "/v1/lookup"

// Results of a lookup, as its event says them.
const (
	lookupFound       = "found"
	lookupNotFound    = "not_found"
	lookupRateLimited = "rate_limited"
	lookupForbidden   = "forbidden"
)

// WithEvents makes the API write its own events (lookup.performed) for
// the pools wants accepts (nil: all) through the store's outbox.
func WithEvents(wants func(pool string) bool) Option {
	return func(s *server) {
		if wants == nil {
			wants = func(string) bool { return true }
		}
		s.wants = wants
	}
}

// lookupAnswer is what a courier's locker system learns from a parcel's
// tracking number: the number to text and how to reach A through it, and
// A masked unless the token may see it whole.
type lookupAnswer struct {
	TrackNo   string     `json:"track_no"`
	BindingID string     `json:"binding_id"`
	Model     string     `json:"model"`
	X         string     `json:"x"`
	Extension string     `json:"extension,omitempty"`
	Dial      *dialForms `json:"dial,omitempty"`
	A         string     `json:"a"`
	// AMasked says whether A is masked (138****8000): without the
	// lookup:full scope it always is.
	AMasked    bool       `json:"a_masked"`
	State      string     `json:"state"`
	ExpiresAt  time.Time  `json:"expires_at"`
	GraceUntil *time.Time `json:"grace_until,omitempty"`
}

// lookup is GET /v1/lookup?track_no=: the binding a parcel's tracking
// number names, for a token with the lookup scope, rate-limited per
// token; every access is an event.
func (s *server) lookup(w http.ResponseWriter, r *http.Request) error {
	no := r.URL.Query().Get("track_no")
	if no == "" {
		return invalidField("track_no", "required")
	}
	p := principalOf(r.Context())
	if p != nil && p.limiter != nil {
		if res := p.limiter.Reserve(); !res.OK() || res.Delay() > 0 {
			wait := res.Delay()
			res.Cancel()
			s.lookupEvent(r.Context(), p, no, lookupRateLimited, nil)
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
			return &apiError{status: http.StatusTooManyRequests, Code: "rate_limited",
				Message: "this token's lookups per minute are used up"}
		}
	}
	b, grace, err := s.st.LookupTrackNo(r.Context(), no)
	if errors.Is(err, store.ErrNotFound) {
		s.lookupEvent(r.Context(), p, no, lookupNotFound, nil)
		return notFound("tracking number")
	}
	if err != nil {
		return err
	}
	full := p != nil && p.has(ScopeLookupFull)
	a := b.A
	if !full {
		a = maskNumber(number.Format(b.A, number.National, s.country))
	}
	ans := lookupAnswer{TrackNo: no, BindingID: b.ID, Model: string(b.Model), X: b.X, Extension: b.Extension,
		A: a, AMasked: !full, State: stateLive, ExpiresAt: b.ExpiresAt}
	if v := s.view(b); v.Dial != nil {
		ans.Dial = v.Dial
	}
	if grace {
		_, until, err := s.st.GraceBinding(r.Context(), b.ID)
		if err == nil {
			ans.State, ans.GraceUntil = stateGrace, &until
		}
	}
	s.lookupEvent(r.Context(), p, no, lookupFound, &b)
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// lookupEvent writes the event of one lookup, for the binding's pool (or
// the default webhook when none was found). A failure is logged: the
// answer does not wait for the event.
func (s *server) lookupEvent(ctx context.Context, p *principal, no, result string, b *store.Binding) {
	v := events.LookupView{TrackNo: no, Result: result}
	if p != nil {
		v.Token = p.Name
	}
	if b != nil {
		v.BindingID, v.Pool, v.X = b.ID, b.Pool, b.X
		v.Full = p != nil && p.has(ScopeLookupFull)
	}
	if len(v.TrackNo) > 64 {
		v.TrackNo = v.TrackNo[:64]
	}
	if s.wants == nil || !s.wants(v.Pool) {
		return
	}
	ev, err := events.LookupEvent(v, s.now())
	if err == nil {
		err = s.st.QueueCall(context.WithoutCancel(ctx), store.CallChange{Events: []store.Event{ev}})
	}
	if err != nil {
		s.log.Warn().Err(err).Str("result", result).Msg("lookup event not written")
	}
}
