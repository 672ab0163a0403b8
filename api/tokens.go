package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Scopes a token may carry.
const (
	// ScopeAdmin is every /v1 endpoint: what --api-token grants.
	ScopeAdmin = "admin"
	// ScopeLookup is GET /v1/lookup with A masked: what a locker system
	// gets.
	ScopeLookup = "lookup"
	// ScopeLookupFull is GET /v1/lookup with A in full.
	ScopeLookupFull = "lookup:full"
)

// Token is one API credential.
type Token struct {
	// Name says who holds it, in logs and lookup events; never the secret.
	Name   string
	Secret string
	Scopes []string
	// LookupsPerMinute bounds the token's lookups (0: no bound).
	LookupsPerMinute int
}

// principal is a token as the server checks it.
type principal struct {
	Token
	limiter *rate.Limiter // nil: no bound
}

func (p *principal) has(scope string) bool {
	return slices.Contains(p.Scopes, ScopeAdmin) || slices.Contains(p.Scopes, scope)
}

// WithTokens adds credentials: with any (or WithToken), every /v1 request
// needs "Authorization: Bearer <secret>" of one of them, and a token
// reaches only what its scopes grant (403 otherwise).
func WithTokens(tokens ...Token) Option {
	return func(s *server) {
		for _, t := range tokens {
			p := &principal{Token: t}
			if t.LookupsPerMinute > 0 {
				p.limiter = rate.NewLimiter(rate.Every(time.Minute/time.Duration(t.LookupsPerMinute)), t.LookupsPerMinute)
			}
			s.tokens = append(s.tokens, p)
		}
	}
}

// WithToken is WithTokens of one admin token named "admin"; an empty token
// adds none.
func WithToken(token string) Option {
	if token == "" {
		return func(*server) {}
	}
	return WithTokens(Token{Name: "admin", Secret: token, Scopes: []string{ScopeAdmin}})
}

type principalKey struct{}

// principalOf is the token a request was let in with (nil: the API needs
// none).
func principalOf(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

// authenticate finds the request's token; every secret is compared in
// constant time, so the answer's timing says nothing of which is near.
func (s *server) authenticate(r *http.Request) *principal {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	secret = strings.TrimSpace(secret)
	var found *principal
	for _, p := range s.tokens {
		if subtle.ConstantTimeCompare([]byte(secret), []byte(p.Secret)) == 1 && found == nil {
			found = p
		}
	}
	return found
}

// scopeFor is the scope a /v1 request needs.
func scopeFor(path string) string {
	if path == lookupPath {
		return ScopeLookup
	}
	return ScopeAdmin
}
