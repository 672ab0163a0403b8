package api

import (
	"net/http"
	"net/url"
	"time"
)

// Call is one call the engine has up or is setting up, as GET /v1/calls
// lists it. The API knows nothing of SIP, so the binary fills it from the
// engine's call table (WithCalls).
type Call struct {
	ACallID   string
	BCallID   string
	BindingID string
	X         string
	Caller    string
	Callee    string
	Started   time.Time
	Answered  time.Time // zero while ringing
}

// WithCalls supplies the calls GET /v1/calls lists.
func WithCalls(calls func() []Call) Option { return func(s *server) { s.calls = calls } }

// WithHangUp supplies what DELETE /v1/calls/{id} does: end the call whose
// A or B leg has that Call-ID with the reason text; false if there is
// none.
func WithHangUp(hangUp func(callID, reason string) bool) Option {
	return func(s *server) { s.hangUp = hangUp }
}

// defaultHangUpReason is the Reason text of a call ended through the API
// without one.
const defaultHangUpReason = "ended by the operator"

// maxHangUpReason bounds the reason text, which goes into a Reason header
// as a quoted string.
const maxHangUpReason = 64

func (s *server) hangUpCall(w http.ResponseWriter, r *http.Request) error {
	if s.hangUp == nil {
		return &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no engine in this process"}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalidField("query", "malformed query string")
	}
	reason := defaultHangUpReason
	for name, values := range q {
		if name != "reason" || len(values) != 1 {
			return invalidField(name, "unknown query parameter, or given more than once")
		}
		reason = values[0]
		if reason == "" || len(reason) > maxHangUpReason {
			return invalidField(name, "must be 1 to %d characters", maxHangUpReason)
		}
		for _, c := range reason {
			// A quoted-string of RFC 3261 25.1 without escapes: printable
			// ASCII but the quote and the backslash.
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				return invalidField(name, "printable ASCII only, without quotes or backslashes")
			}
		}
	}
	if !s.hangUp(r.PathValue("id"), reason) {
		return &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no such call"}
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// callView is a Call as the API shows it. The parties' numbers are masked:
// an operator's list of calls up is read on shared screens and pasted into
// tickets, and the binding, found by its ID, has the numbers for whoever
// may see them.
type callView struct {
	ACallID         string  `json:"a_call_id"`
	BCallID         string  `json:"b_call_id"`
	BindingID       string  `json:"binding_id"`
	X               string  `json:"x"`
	Caller          string  `json:"caller"`
	Callee          string  `json:"callee"`
	State           string  `json:"state"`
	StartedAt       string  `json:"started_at"`
	AnsweredAt      string  `json:"answered_at,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

type callList struct {
	Calls []callView `json:"calls"`
}

func (s *server) listCalls(w http.ResponseWriter, _ *http.Request) error {
	if s.calls == nil {
		return &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no engine in this process"}
	}
	now := s.now()
	calls := s.calls()
	out := callList{Calls: make([]callView, 0, len(calls))}
	for _, c := range calls {
		v := callView{
			ACallID: c.ACallID, BCallID: c.BCallID, BindingID: c.BindingID, X: c.X,
			Caller: maskNumber(c.Caller), Callee: maskNumber(c.Callee),
			State: "setup", StartedAt: c.Started.UTC().Format(time.RFC3339Nano),
		}
		if !c.Answered.IsZero() {
			v.State = "up"
			v.AnsweredAt = c.Answered.UTC().Format(time.RFC3339Nano)
			v.DurationSeconds = now.Sub(c.Answered).Round(time.Millisecond).Seconds()
		}
		out.Calls = append(out.Calls, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// maskNumber hides the four digits before the last four, as Chinese
// platforms print a number (138****0001); shorter numbers keep only their
// last two.
func maskNumber(n string) string {
	switch {
	case len(n) >= 9:
		return n[:len(n)-8] + "****" + n[len(n)-4:]
	case len(n) > 2:
		return "****" + n[len(n)-2:]
	}
	return "****"
}
