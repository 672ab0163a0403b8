// Package routehook asks a platform's routing hook, over HTTP, where a
// call goes that no binding answers (routing.Hook): a POST of the call's
// pool, X and caller, signed like the events (X-Xbridge-Signature with the
// pool's webhook secret), answered with {"action":"connect","to",
// "display","max_call_seconds"} or {"action":"reject","code"}.
package routehook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/routing"
)

// maxAnswer bounds what is read of the hook's answer.
const maxAnswer = 4 << 10

// Client asks routing hooks. It is safe for concurrent use.
type Client struct {
	http   *http.Client
	secret func(pool string) string
	now    func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the HTTP client (the default has no timeout of
// its own: routing bounds each ask by the pool's hook timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client that signs each ask with secret(pool) (empty: sent
// unsigned).
func New(secret func(pool string) string, opts ...Option) *Client {
	c := &Client{http: &http.Client{}, secret: secret, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c
}

// ask is what the hook receives.
type ask struct {
	Type   string      `json:"type"`
	At     events.Time `json:"at"`
	Pool   string      `json:"pool"`
	X      string      `json:"x"`
	Caller string      `json:"caller"`
}

// answer is what it may say.
type answer struct {
	Action         string `json:"action"`
	To             string `json:"to"`
	Display        string `json:"display"`
	MaxCallSeconds int    `json:"max_call_seconds"`
	Code           int    `json:"code"`
}

// errStatus: the hook answered with a non-2xx status.
type errStatus int

func (e errStatus) Error() string { return fmt.Sprintf("routing hook answered %d", int(e)) }

// Route implements routing.Hook.
func (c *Client) Route(ctx context.Context, q routing.HookQuery) (routing.HookAnswer, error) {
	now := c.now()
	body, err := json.Marshal(ask{Type: "route.request", At: events.Time(now), Pool: q.Pool, X: q.X, Caller: q.Caller})
	if err != nil {
		return routing.HookAnswer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.URL, bytes.NewReader(body))
	if err != nil {
		return routing.HookAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.secret != nil {
		if s := c.secret(q.Pool); s != "" {
			req.Header.Set(events.SignatureHeader, events.Sign(s, now, body))
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return routing.HookAnswer{}, err
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxAnswer))
		return routing.HookAnswer{}, errStatus(res.StatusCode)
	}
	var a answer
	dec := json.NewDecoder(io.LimitReader(res.Body, maxAnswer))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return routing.HookAnswer{}, fmt.Errorf("routing hook answer: %w", err)
	}
	if a.Action == "" {
		return routing.HookAnswer{}, errors.New("routing hook answer has no action")
	}
	return routing.HookAnswer{Action: a.Action, To: a.To, Display: a.Display, MaxCallSeconds: a.MaxCallSeconds, Code: a.Code}, nil
}
