package store_test

import (
	"path/filepath"
	"testing"

	"github.com/xbridge/xbridge/store"
	"github.com/xbridge/xbridge/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) store.Store {
		db, err := store.Open(filepath.Join(t.TempDir(), "xbridge.db"),
			store.WithClock(cfg.Now),
			store.WithQuarantine(cfg.Quarantine),
			store.WithSweepInterval(cfg.SweepInterval),
			store.WithSMSGrace(cfg.SMSGrace))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

// The same suite with every write its own Update (no batching).
func TestConformanceUnbatched(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) store.Store {
		db, err := store.Open(filepath.Join(t.TempDir(), "xbridge.db"),
			store.WithClock(cfg.Now),
			store.WithQuarantine(cfg.Quarantine),
			store.WithSweepInterval(cfg.SweepInterval),
			store.WithSMSGrace(cfg.SMSGrace),
			store.WithBatchDelay(0))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
