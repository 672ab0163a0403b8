package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/xbridge/xbridge/api"
)

// tokenConfig is one --api-tokens entry.
type tokenConfig struct {
	// Token is the bearer secret; TokenEnv names an environment variable
	// holding it instead, so the file can be shared without the secret.
	Token            string   `json:"token"`
	TokenEnv         string   `json:"token_env"`
	Scopes           []string `json:"scopes"`
	LookupsPerMinute int      `json:"lookups_per_minute"`
}

// loadTokensFile reads --api-tokens: a JSON object mapping a token's name
// (who holds it: a locker system, support staff) to its secret, scopes
// (admin, lookup, lookup:full) and lookup rate. Every error names the
// token and the field; no error quotes a secret.
func loadTokensFile(path string, env environ) ([]api.Token, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := readPoolsObject("api-tokens", path)
	if err != nil {
		return nil, err
	}
	var out []api.Token
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		var c tokenConfig
		d := json.NewDecoder(bytes.NewReader(raw[name]))
		d.DisallowUnknownFields()
		if err := d.Decode(&c); err != nil {
			return nil, usageError("--api-tokens %s: token %q: %v", path, name, err)
		}
		secret := c.Token
		if c.TokenEnv != "" {
			if c.Token != "" {
				return nil, usageError("--api-tokens %s: token %q: token and token_env are both set", path, name)
			}
			v, ok := env(c.TokenEnv)
			if !ok || v == "" {
				return nil, usageError("--api-tokens %s: token %q: token_env: %s is not set", path, name, c.TokenEnv)
			}
			secret = v
		}
		switch {
		case len(secret) < 16:
			return nil, usageError("--api-tokens %s: token %q: the secret must be at least 16 characters", path, name)
		case strings.ContainsAny(secret, " \t\r\n"):
			return nil, usageError("--api-tokens %s: token %q: the secret must not contain whitespace", path, name)
		case seen[secret] != "":
			return nil, usageError("--api-tokens %s: tokens %q and %q have the same secret", path, seen[secret], name)
		case len(c.Scopes) == 0:
			return nil, usageError("--api-tokens %s: token %q: scopes: give at least one of admin, lookup, lookup:full", path, name)
		case c.LookupsPerMinute < 0:
			return nil, usageError("--api-tokens %s: token %q: lookups_per_minute must not be negative", path, name)
		}
		for _, s := range c.Scopes {
			if s != api.ScopeAdmin && s != api.ScopeLookup && s != api.ScopeLookupFull {
				return nil, usageError("--api-tokens %s: token %q: scopes: %q is not one of admin, lookup, lookup:full", path, name, s)
			}
		}
		seen[secret] = name
		out = append(out, api.Token{Name: name, Secret: secret, Scopes: c.Scopes, LookupsPerMinute: c.LookupsPerMinute})
	}
	return out, nil
}
