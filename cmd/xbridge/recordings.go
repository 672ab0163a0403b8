package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/b2bua"
	"github.com/xbridge/xbridge/store"
)

// recordingsDir is where the engine writes call recordings, under --data.
const recordingsDir = "recordings"

// prunePeriod is how often recordings past the retention are removed.
const prunePeriod = time.Hour

// poolPolicyTTL is how long a pool's recording settings are reused
// before they are read again: a PUT applies to calls answered after it
// within this. Reading them at every answer cost 1.7% of the engine's CPU
// at 1,200 calls/s (perf, docs/PERFORMANCE.md, issue 7 second sitting).
const poolPolicyTTL = time.Second

// poolRecords reads a pool's record_calls and record_notice settings for
// the calls answered, at most once per poolPolicyTTL per pool.
func poolRecords(st *store.DB, log zerolog.Logger) func(pool string) b2bua.RecordingPolicy {
	type cached struct {
		p  b2bua.RecordingPolicy
		at time.Time
	}
	var (
		mu    sync.Mutex
		cache = map[string]cached{}
	)
	return func(pool string) b2bua.RecordingPolicy {
		now := time.Now()
		mu.Lock()
		c, ok := cache[pool]
		mu.Unlock()
		if ok && now.Sub(c.at) < poolPolicyTTL {
			return c.p
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := st.PoolSettings(ctx, pool)
		if err != nil {
			log.Warn().Err(err).Str("pool", pool).Msg("pool settings unreadable: call not recorded")
			return b2bua.RecordingPolicy{}
		}
		p := b2bua.RecordingPolicy{All: s.RecordCalls, Notice: s.RecordNotice}
		mu.Lock()
		cache[pool] = cached{p: p, at: now}
		mu.Unlock()
		return p
	}
}

// pruneRecordings removes, every prunePeriod until ctx ends, the
// recordings (and raw payload files) older than retention: they go with
// their records (0: kept for ever).
func pruneRecordings(ctx context.Context, dir string, retention time.Duration, log zerolog.Logger) {
	if retention <= 0 {
		return
	}
	tick := time.NewTicker(prunePeriod)
	defer tick.Stop()
	for {
		removeOlder(dir, time.Now().Add(-retention), log)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func removeOlder(dir string, cutoff time.Time, log zerolog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Warn().Err(err).Msg("recordings unreadable")
		return
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".wav") || strings.HasSuffix(name, ".rtp")) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			log.Warn().Err(err).Str("file", name).Msg("old recording not removed")
			continue
		}
		n++
	}
	if n > 0 {
		log.Info().Int("removed", n).Msg("recordings past the retention removed")
	}
}
