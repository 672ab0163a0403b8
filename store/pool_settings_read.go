package store

import "time"

// poolSettings reads pool's settings inside a transaction. Until the pool
// settings storage lands (the pools work of issue 6) every pool has the
// defaults; the integration points this at the stored settings.
func (bk buckets) poolSettings(pool string) PoolSettings {
	_ = pool
	return PoolSettings{ExtensionLength: defaultExtensionLength, CallbackWindow: defaultCallbackWindow}
}

// The defaults of PoolSettings that bindings depend on.
const (
	defaultExtensionLength = 4
	defaultCallbackWindow  = 24 * time.Hour
)
