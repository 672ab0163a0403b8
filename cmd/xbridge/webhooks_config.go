package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/xbridge/xbridge/events"
)

// webhookDefault is the key of the --webhooks entry that pools without
// their own use.
const webhookDefault = "*"

// webhookConfig is one --webhooks entry.
type webhookConfig struct {
	URL string `json:"url"`
	// Secret signs deliveries; SecretEnv names an environment variable
	// holding it instead, so the file can be shared without the secret.
	Secret      string `json:"secret"`
	SecretEnv   string `json:"secret_env"`
	Batch       int    `json:"batch"`
	Concurrency int    `json:"concurrency"`
	Timeout     string `json:"timeout"`
	// BindingURLs are the URL prefixes a binding's webhook_url may start
	// with (events.Webhook.BindingURLs).
	BindingURLs []string `json:"binding_urls"`
}

// loadWebhooksFile reads --webhooks: a JSON object mapping pool names (and
// "*", the default) to where their call events go. An empty path is no
// webhooks: records are still kept, events are dropped. Every error names
// the pool and the field.
func loadWebhooksFile(path string, env environ) (map[string]events.Webhook, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := readPoolsObject("webhooks", path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]events.Webhook, len(raw))
	for _, pool := range slices.Sorted(maps.Keys(raw)) {
		var c webhookConfig
		d := json.NewDecoder(bytes.NewReader(raw[pool]))
		d.DisallowUnknownFields()
		if err := d.Decode(&c); err != nil {
			return nil, usageError("--webhooks %s: pool %q: %v", path, pool, err)
		}
		w := events.Webhook{URL: c.URL, Secret: c.Secret, Batch: c.Batch, Concurrency: c.Concurrency, BindingURLs: c.BindingURLs}
		if c.SecretEnv != "" {
			if c.Secret != "" {
				return nil, usageError("--webhooks %s: pool %q: secret and secret_env are both set", path, pool)
			}
			v, ok := env(c.SecretEnv)
			if !ok || v == "" {
				return nil, usageError("--webhooks %s: pool %q: secret_env: %s is not set", path, pool, c.SecretEnv)
			}
			w.Secret = v
		}
		if c.Timeout != "" {
			if w.Timeout, err = time.ParseDuration(c.Timeout); err != nil || w.Timeout <= 0 {
				return nil, usageError("--webhooks %s: pool %q: timeout: %q is not a positive duration", path, pool, c.Timeout)
			}
		}
		if err := w.Check(); err != nil {
			return nil, usageError("--webhooks %s: pool %q: %v", path, pool, err)
		}
		out[pool] = w
	}
	return out, nil
}

// webhookRoutes sends a pool's events to its webhook, else to the
// default's, else nowhere; a binding's own URL (override) replaces the
// URL where that webhook's binding_urls take it.
func webhookRoutes(hooks map[string]events.Webhook) events.Routes {
	return func(pool, override string) (events.Webhook, bool) {
		w, ok := hooks[pool]
		if !ok {
			w, ok = hooks[webhookDefault]
		}
		return w.For(override), ok
	}
}

// bindingWebhookCheck is what the API asks of a binding's webhook_url:
// that its pool's webhook takes it.
func bindingWebhookCheck(hooks map[string]events.Webhook) func(pool, url string) error {
	routes := webhookRoutes(hooks)
	return func(pool, url string) error {
		w, ok := routes(pool, "")
		switch {
		case !ok:
			return fmt.Errorf("pool %q has no webhook", pool)
		case !w.Takes(url):
			return fmt.Errorf("pool %q's webhook takes no binding URL starting so (its binding_urls)", pool)
		}
		return nil
	}
}

// wantsEvents says whether a pool's events go anywhere: the engine does
// not write the others' (their records it does).
func wantsEvents(hooks map[string]events.Webhook) func(pool string) bool {
	routes := webhookRoutes(hooks)
	return func(pool string) bool {
		_, ok := routes(pool, "")
		return ok
	}
}

// webhookSecrets is each pool's webhook secret (its own entry's, else the
// default's): what signs the asks of its routing hook too.
func webhookSecrets(hooks map[string]events.Webhook) func(pool string) string {
	routes := webhookRoutes(hooks)
	return func(pool string) string {
		w, _ := routes(pool, "")
		return w.Secret
	}
}
