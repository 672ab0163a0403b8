package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/b2bua"
	"github.com/xbridge/xbridge/store"
)

// recordingsDir is where the engine writes call recordings, under --data.
const recordingsDir = "recordings"

// prunePeriod is how often recordings past the retention are removed.
const prunePeriod = time.Hour

// poolRecords reads a pool's record_calls and record_notice settings at
// each routed call: a PUT applies to the next call.
func poolRecords(st *store.DB, log zerolog.Logger) func(pool string) b2bua.RecordingPolicy {
	return func(pool string) b2bua.RecordingPolicy {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := st.PoolSettings(ctx, pool)
		if err != nil {
			log.Warn().Err(err).Str("pool", pool).Msg("pool settings unreadable: call not recorded")
			return b2bua.RecordingPolicy{}
		}
		return b2bua.RecordingPolicy{All: s.RecordCalls, Notice: s.RecordNotice}
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
