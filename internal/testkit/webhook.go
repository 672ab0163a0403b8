package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Webhook is a real HTTP receiver of the engine's events on 127.0.0.1: it
// keeps every POST, checks each with the test's verifier (a signature
// check), and can refuse the first deliveries or hold them, as a receiver
// that is down or slow does.
type Webhook struct {
	URL string

	mu         sync.Mutex
	verify     func(header http.Header, body []byte) error
	failFirst  int
	failStatus int
	hold       chan struct{}
	posts      []Post
	changed    chan struct{}
}

// Post is one POST the receiver got.
type Post struct {
	Header http.Header
	Body   []byte
	// Status is what the receiver answered.
	Status int
	// VerifyErr is what the verifier said of it.
	VerifyErr error
	// Events are the event objects it carried: the body itself, or the
	// members of {"events":[...]}.
	Events []json.RawMessage
}

// NewWebhook starts a receiver that checks each POST with verify (nil:
// none) and answers 204.
func NewWebhook(t testing.TB, verify func(header http.Header, body []byte) error) *Webhook {
	t.Helper()
	w := &Webhook{verify: verify, changed: make(chan struct{})}
	srv := HTTPServer(t, http.HandlerFunc(w.serve))
	w.URL = srv.URL
	t.Cleanup(w.Release)
	return w
}

// FailFirst makes the next n POSTs get status.
func (w *Webhook) FailFirst(n, status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failFirst, w.failStatus = n, status
}

// Hold makes every POST wait until Release (or its client gives up).
func (w *Webhook) Hold() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hold == nil {
		w.hold = make(chan struct{})
	}
}

// Release lets held POSTs go on and stops holding.
func (w *Webhook) Release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hold != nil {
		close(w.hold)
		w.hold = nil
	}
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	w.mu.Lock()
	hold := w.hold
	w.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	p := Post{Header: r.Header.Clone(), Body: body, Status: http.StatusNoContent}
	if w.verify != nil {
		p.VerifyErr = w.verify(r.Header, body)
	}
	var batch struct {
		Events []json.RawMessage `json:"events"`
	}
	if json.Unmarshal(body, &batch) == nil && batch.Events != nil {
		p.Events = batch.Events
	} else {
		p.Events = []json.RawMessage{body}
	}
	w.mu.Lock()
	if w.failFirst > 0 {
		w.failFirst--
		p.Status = w.failStatus
	}
	w.posts = append(w.posts, p)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	rw.WriteHeader(p.Status)
}

// Posts returns every POST so far.
func (w *Webhook) Posts() []Post {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Post(nil), w.posts...)
}

// Accepted returns the events of the POSTs answered 2xx, in arrival order.
func (w *Webhook) Accepted() []json.RawMessage {
	var out []json.RawMessage
	for _, p := range w.Posts() {
		if p.Status < 300 {
			out = append(out, p.Events...)
		}
	}
	return out
}

// WaitAccepted waits until at least n events were accepted, for at most
// bound, and returns them.
func (w *Webhook) WaitAccepted(t testing.TB, n int, bound time.Duration) []json.RawMessage {
	t.Helper()
	deadline := time.After(bound)
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		if got := w.Accepted(); len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("webhook accepted %d events in %v, want %d", len(w.Accepted()), bound, n)
		}
	}
}
