package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xbridge/xbridge/api"
)

func TestTokensFile(t *testing.T) {
	good := writeConfig(t, `{
		"locker-17": {"token": "locker-secret-0123456789", "scopes": ["lookup"], "lookups_per_minute": 60},
		"support":   {"token_env": "SUPPORT_TOKEN", "scopes": ["lookup:full"]},
		"ops":       {"token": "ops-secret-0123456789ab", "scopes": ["admin"]}
	}`)
	c, err := loadServeConfig([]string{"--api-tokens", good}, mapEnv(map[string]string{"SUPPORT_TOKEN": "support-secret-01234567"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]api.Token{}
	for _, tok := range c.APITokens {
		byName[tok.Name] = tok
	}
	if len(c.APITokens) != 3 || byName["locker-17"].LookupsPerMinute != 60 || byName["support"].Secret != "support-secret-01234567" ||
		byName["ops"].Scopes[0] != api.ScopeAdmin {
		t.Fatalf("tokens %+v", c.APITokens)
	}
	// Tokens guard an API off loopback as --api-token does.
	if _, err := loadServeConfig([]string{"--api-tokens", good, "--api", "0.0.0.0:8080"}, mapEnv(map[string]string{"SUPPORT_TOKEN": "support-secret-01234567"}), &bytes.Buffer{}); err != nil {
		t.Errorf("an API off loopback with tokens: %v", err)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"unknown scope", `{"t": {"token": "0123456789abcdefg", "scopes": ["root"]}}`, `"root" is not one of`},
		{"no scopes", `{"t": {"token": "0123456789abcdefg"}}`, "scopes"},
		{"short secret", `{"t": {"token": "short", "scopes": ["lookup"]}}`, "at least 16"},
		{"env unset", `{"t": {"token_env": "NOPE", "scopes": ["lookup"]}}`, "NOPE is not set"},
		{"both", `{"t": {"token": "0123456789abcdefg", "token_env": "X", "scopes": ["lookup"]}}`, "both set"},
		{"same secret", `{"a": {"token": "0123456789abcdefg", "scopes": ["lookup"]}, "b": {"token": "0123456789abcdefg", "scopes": ["admin"]}}`, "the same secret"},
		{"negative rate", `{"t": {"token": "0123456789abcdefg", "scopes": ["lookup"], "lookups_per_minute": -1}}`, "lookups_per_minute"},
		{"unknown field", `{"t": {"secret": "0123456789abcdefg"}}`, `token "t"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadServeConfig([]string{"--api-tokens", writeConfig(t, tc.body)}, mapEnv(nil), &bytes.Buffer{})
			if !isUsage(err) || !strings.Contains(err.Error(), "--api-tokens") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a usage error about %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "0123456789abcdefg") {
				t.Fatalf("the error quotes a secret: %v", err)
			}
		})
	}
}
