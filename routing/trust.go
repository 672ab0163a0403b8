package routing

import "net/netip"

// Who may place calls, and whose word on the caller counts. A carrier's
// trunk belongs to the trust domain of RFC 3325: its P-Asserted-Identity is
// the caller, even when From is withheld ("anonymous"). Anyone else may be
// let in (a partner PBX, a test rig) but cannot choose whose binding they
// reach by writing another number into P-Asserted-Identity: for them the
// caller is the From user. Sources in neither list are refused with 403.

// WithAllowed adds sources calls are accepted from without trusting them:
// their caller is their From user whatever identity they assert. A source
// in both lists is trusted.
func WithAllowed(prefixes ...netip.Prefix) Option {
	return func(r *Router) { r.allowed = masked(prefixes) }
}

// Trusted reports whether a is in the trust domain: its calls are taken
// and its asserted identity believed (every source, when no list is set).
func (r *Router) Trusted(a netip.Addr) bool {
	trusted, _ := r.sourceTrust(a)
	return trusted
}

// sourceTrust says whether calls from a are accepted and whether their
// asserted identity is believed. With no list at all every source is both:
// the open engine of a loopback test bed (the binary refuses to run open on
// any other address unless told --insecure).
func (r *Router) sourceTrust(a netip.Addr) (trusted, accepted bool) {
	if len(r.trusted) == 0 && len(r.allowed) == 0 {
		return true, true
	}
	a = a.Unmap()
	if contains(r.trusted, a) {
		return true, true
	}
	return false, contains(r.allowed, a)
}

// callerFor is the caller routing goes by: the asserted identity from a
// trusted source, From from everyone else (and when nothing is asserted).
func (c Call) callerFor(trusted bool) string {
	if trusted && c.Asserted != "" {
		return c.Asserted
	}
	return c.Caller
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func masked(prefixes []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		out = append(out, p.Masked())
	}
	return out
}
