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

// BindingLookup is what the router needs of the binding store: resolving a
// call (X, caller) and an extension on X, recording an AXE's caller for the
// callback, and telling pool numbers from others (to split X from digits
// dialled after it). store.Store has it.
type BindingLookup interface {
	store.Resolver
	InPool(ctx context.Context, x string) (pool string, ok bool, err error)
}

// Router decides what to do with a new call from the bindings in a store.
// It is safe for concurrent use.
type Router struct {
	st      BindingLookup
	country *number.Country
	trusted []netip.Prefix
	allowed []netip.Prefix // accepted, identity not believed (trust.go)
	now     func() time.Time

	inlineNotes bool                       // WithInlineNotes
	noteFailed  func(id string, err error) // WithNoteFailures
	hook        Hook                       // WithHook
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

// WithInlineNotes writes the note of an AXE's caller (for the callback)
// before RouteExtension returns, its failure in Decision.Err, instead of in
// the background: for tests that read the note at once.
func WithInlineNotes() Option { return func(r *Router) { r.inlineNotes = true } }

// WithNoteFailures hears of caller notes written in the background that
// failed (the callback to that caller will not work).
func WithNoteFailures(f func(bindingID string, err error)) Option {
	return func(r *Router) { r.noteFailed = f }
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

// Route decides a new call: Bridge to whom the binding on the dialled
// number names for this caller (route_models.go), Collect an extension,
// Announce, or Reject with a SIP-style code. Reason never holds the
// counterpart's number, so it may be sent back to the caller.
func (r *Router) Route(ctx context.Context, c Call) Decision {
	d, user, ok := r.start(c)
	if !ok {
		return d
	}
	if num, ext := ExtensionParam(user, c.DialledParams); ext != "" {
		if d, ok = r.dialled(d, num); !ok {
			return d
		}
		return r.dialledExtension(ctx, d, ext)
	}
	d, ok = r.dialled(d, user)
	if !ok {
		// Digits keyed after X can make the number too long to read.
		if x, ext, split := r.splitTrailing(ctx, user); split {
			d.Action, d.Code, d.Reason, d.Err, d.Dialled = Reject, 0, "", nil, x
			return r.dialledExtension(ctx, d, ext)
		}
		return d
	}
	res, err := r.st.Resolve(ctx, d.Dialled, d.Caller)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if res.Pool == "" {
			if x, ext, split := r.splitTrailing(ctx, user); split {
				d.Dialled = x
				return r.dialledExtension(ctx, d, ext)
			}
		}
		d.Code, d.Reason, d.Outcome = 404, "no binding for this caller on the dialled number", store.OutcomeNoBinding
		if res.Pool != "" {
			if r.hook != nil && res.Settings.RoutingHook.URL != "" {
				hooked, ok := r.askHook(ctx, d, res)
				if ok {
					return hooked
				}
				d.Hook, d.Err = hooked.Hook, hooked.Err
			}
			return unknownCaller(d, res.Settings.UnknownCaller)
		}
		return d
	case errors.Is(err, store.ErrEnded):
		d.Code, d.Reason, d.Outcome, d.Binding = 480, "binding ended", store.OutcomeExpired, res.Binding
		return d
	case err != nil:
		return r.storeFailed(ctx, d, err)
	}
	return r.resolved(d, res)
}

// RouteExtension is the second step of a Collect: the caller keyed digits.
// It gives Bridge to the extension's A showing X, or Reject (404 for an
// extension that is not found: the IVR asks again).
func (r *Router) RouteExtension(ctx context.Context, c Call, digits string) Decision {
	d, user, ok := r.start(c)
	if !ok {
		return d
	}
	num, _ := ExtensionParam(user, c.DialledParams)
	if d, ok = r.dialled(d, num); !ok {
		return d
	}
	return r.extension(ctx, d, digits)
}

// start checks the source and reads the caller: the steps every decision
// shares. It returns the dialled user part for the caller to read.
func (r *Router) start(c Call) (Decision, string, bool) {
	trusted, accepted := r.sourceTrust(c.Source)
	if !accepted {
		return Decision{Action: Reject, Code: 403, Reason: "source not trusted", Outcome: store.OutcomeUntrusted}, "", false
	}
	caller, err := r.Normalize(c.callerFor(trusted))
	if err != nil {
		d := Decision{Action: Reject, Code: 403, Reason: "caller unidentified: " + why(err), Outcome: store.OutcomeInvalidNumber, Err: err}
		// A dialled number that cannot be read says so first.
		if x, xerr := r.Normalize(c.Dialled); xerr != nil {
			d.Code, d.Reason, d.Err = 484, "dialled number invalid: "+why(xerr), xerr
		} else {
			d.Dialled = x
		}
		return d, "", false
	}
	return Decision{Action: Reject, Caller: caller}, c.Dialled, true
}

// dialled reads X into d.
func (r *Router) dialled(d Decision, user string) (Decision, bool) {
	x, err := r.Normalize(user)
	if err != nil {
		d.Code, d.Reason, d.Outcome, d.Err = 484, "dialled number invalid: "+why(err), store.OutcomeInvalidNumber, err
		return d, false
	}
	d.Dialled = x
	return d, true
}

// splitTrailing reads user as X directly followed by an extension, asking
// the store which prefix is a pool number. A miss costs a read per
// candidate, on calls that found nothing else.
func (r *Router) splitTrailing(ctx context.Context, user string) (x, ext string, ok bool) {
	var storeErr error
	num, ext, ok := SplitTrailing(user, func(cand string) bool {
		n, err := r.Normalize(cand)
		if err != nil || storeErr != nil {
			return false
		}
		_, in, err := r.st.InPool(ctx, n)
		storeErr = err
		return in
	})
	if !ok {
		return "", "", false
	}
	x, err := r.Normalize(num)
	return x, ext, err == nil
}

// storeFailed is the decision when the store did not answer.
func (r *Router) storeFailed(ctx context.Context, d Decision, err error) Decision {
	d.Action, d.Err = Reject, err
	if ctx.Err() != nil {
		// The store did not answer within the caller's deadline: our
		// trouble, and passing (RFC 3261 21.5.4).
		d.Code, d.Reason, d.Outcome = 503, "binding lookup timed out", store.OutcomeStoreFailure
		return d
	}
	d.Code, d.Reason, d.Outcome = 500, "binding lookup failed", store.OutcomeStoreFailure
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
