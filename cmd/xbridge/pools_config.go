package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/api"
	"github.com/xbridge/xbridge/store"
)

// loadPoolsFile reads --pools: one JSON object mapping pool names to the
// settings document PUT /v1/pools/{pool} takes. The nesting is one level
// of objects, which encoding/json reads strictly (unknown fields refused);
// a config library would add a dependency and a second format for nothing.
// An empty path is no file. Every error names the pool and the field.
func loadPoolsFile(path string) (map[string]store.PoolSettings, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("--pools: %v", err)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, usageError("--pools %s: not a JSON object of pools: %v", path, err)
	}
	if dec.More() {
		return nil, usageError("--pools %s: trailing data after the JSON object", path)
	}
	out := make(map[string]store.PoolSettings, len(raw))
	for _, pool := range slices.Sorted(maps.Keys(raw)) {
		s, err := api.DecodePoolSettings(raw[pool])
		if err != nil {
			return nil, usageError("--pools %s: pool %q: %v", path, pool, err)
		}
		out[pool] = s
	}
	return out, nil
}

// applyPools writes the --pools settings into the store, in pool order, so
// the file wins over what the API set before the restart.
func applyPools(ctx context.Context, st store.Pools, pools map[string]store.PoolSettings, log zerolog.Logger) error {
	for _, pool := range slices.Sorted(maps.Keys(pools)) {
		if err := st.SetPoolSettings(ctx, pool, pools[pool]); err != nil {
			return fmt.Errorf("--pools: pool %q: %w", pool, err)
		}
		log.Info().Str("pool", pool).Msg("pool settings applied from --pools")
	}
	return nil
}
