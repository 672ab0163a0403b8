package routing

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/xbridge/xbridge/number"
	"github.com/xbridge/xbridge/store"
)

// BindingLookup is what the router needs of the binding store: resolving
// (X, party) to its binding. store.Store has it.
type BindingLookup interface {
	Lookup(ctx context.Context, x, party string) (store.Binding, error)
}

// Router decides what to do with a new call from the bindings in a store.
// It is safe for concurrent use.
type Router struct {
	st      BindingLookup
	country *number.Country
	trusted []netip.Prefix
	allowed []netip.Prefix // accepted, identity not believed (trust.go)
	now     func() time.Time
}

// Option configures a Router.
type Option func(*Router)

// WithCountry sets the default country: the one numbers written without a
// country code belong to (default number.DefaultCountry, China).
func WithCountry(c *number.Country) Option {
	return func(r *Router) {
		if c != nil {
			r.country = c
		}
	}
}

// WithTrusted sets the trust domain (RFC 3325): the sources (the carriers'
// trunk ranges) calls are accepted from and whose asserted caller identity
// is believed. With no prefixes here and none in WithAllowed every source
// is accepted and trusted.
func WithTrusted(prefixes ...netip.Prefix) Option {
	return func(r *Router) { r.trusted = masked(prefixes) }
}

// WithClock replaces time.Now when deciding whether a binding has expired.
func WithClock(now func() time.Time) Option { return func(r *Router) { r.now = now } }

// NewRouter returns a Router that looks bindings up in st.
func NewRouter(st BindingLookup, opts ...Option) *Router {
	r := &Router{st: st, country: number.DefaultCountry(), now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Normalize reads a number from a call in the router's default country
// (number.Country.Normalize: cheap, run on every INVITE).
func (r *Router) Normalize(s string) (string, error) { return r.country.Normalize(s) }

// Route decides a new call: Bridge to the counterpart of the caller in the
// binding on the dialled number, showing that number, or Reject with a
// SIP-style code. Reason never holds the counterpart's number, so it may be
// sent back to the caller.
func (r *Router) Route(ctx context.Context, c Call) Decision {
	trusted, accepted := r.sourceTrust(c.Source)
	if !accepted {
		return Decision{Action: Reject, Code: 403, Reason: "source not trusted"}
	}
	x, err := r.Normalize(c.Dialled)
	if err != nil {
		return Decision{Action: Reject, Code: 484, Reason: "dialled number invalid: " + why(err), Err: err}
	}
	caller, err := r.Normalize(c.callerFor(trusted))
	if err != nil {
		return Decision{Action: Reject, Code: 403, Reason: "caller unidentified: " + why(err), Err: err, Dialled: x}
	}
	d := Decision{Action: Reject, Caller: caller, Dialled: x}

	b, err := r.st.Lookup(ctx, x, caller)
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.Code, d.Reason = 404, "no binding for this caller on the dialled number"
		return d
	case errors.Is(err, store.ErrEnded):
		d.Code, d.Reason, d.Binding = 480, "binding ended", b
		return d
	case err != nil && ctx.Err() != nil:
		// The store did not answer within the caller's deadline: our
		// trouble, and passing (RFC 3261 21.5.4).
		d.Code, d.Reason, d.Err = 503, "binding lookup timed out", err
		return d
	case err != nil:
		d.Code, d.Reason, d.Err = 500, "binding lookup failed", err
		return d
	}
	d.Binding = b
	if b.Expired(r.now()) {
		d.Code, d.Reason = 480, "binding expired"
		return d
	}
	callee := b.Counterpart(caller)
	if callee == "" || b.X != x {
		d.Code, d.Reason = 500, "binding does not match the call"
		d.Err = errors.New("store returned a binding without this caller or number")
		return d
	}
	d.Action, d.Code, d.Reason = Bridge, 0, "bridge"
	d.Callee, d.Display = callee, x
	return d
}

// why is the reason of a Normalize error without the input it quotes,
// reduced to characters a SIP reason phrase allows (RFC 3261 25.1), so a
// Reason can go on a response line as it is. The full error stays in
// Decision.Err.
func why(err error) string {
	var ne *number.Error
	if !errors.As(err, &ne) {
		return "invalid"
	}
	b := []byte(ne.Reason)
	for i, c := range b {
		if !reasonPhraseByte(c) {
			b[i] = '?'
		}
	}
	return string(b)
}

func reasonPhraseByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ' ':
		return true
	}
	return strings.IndexByte("-_.!~*'();/?:@&=+$,", c) >= 0
}
