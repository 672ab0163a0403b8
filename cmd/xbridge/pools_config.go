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
	"github.com/xbridge/xbridge/ivr"
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
	raw, err := readPoolsObject("pools", path)
	if err != nil {
		return nil, err
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

// loadPoolPrompts loads every pool's own recordings into prompts at start:
// those of --pools first, where a file that cannot be played stops the
// start (the operator's config is wrong), then those set earlier through
// PUT /v1/pools/{pool} and stored, where such a file is logged and the pool
// plays the defaults (a recording deleted since must not keep the engine
// down). Prompts set through the API while running load there and then
// (api.WithPrompts).
func loadPoolPrompts(ctx context.Context, prompts *ivr.Prompts, pools map[string]store.PoolSettings, st store.Pools, log zerolog.Logger) error {
	for _, pool := range slices.Sorted(maps.Keys(pools)) {
		if err := prompts.SetPool(pool, pools[pool].Prompts); err != nil {
			return fmt.Errorf("--pools: %w", err)
		}
	}
	stored, err := st.PoolPrompts(ctx)
	if err != nil {
		return fmt.Errorf("pool prompts: %w", err)
	}
	for _, pool := range slices.Sorted(maps.Keys(stored)) {
		if _, fromFile := pools[pool]; fromFile {
			continue
		}
		if err := prompts.SetPool(pool, stored[pool]); err != nil {
			log.Warn().Err(err).Str("pool", pool).Msg("pool prompts set through the API cannot be played: the pool plays the defaults")
		}
	}
	return nil
}

// readPoolsObject reads the file of flag --name: one JSON object whose
// members are pools, each left raw for its reader.
func readPoolsObject(name, path string) (map[string]json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("--%s: %v", name, err)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, usageError("--%s %s: not a JSON object of pools: %v", name, path, err)
	}
	if dec.More() {
		return nil, usageError("--%s %s: trailing data after the JSON object", name, path)
	}
	return raw, nil
}
