package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	xbridge "github.com/xbridge/xbridge"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/store"
)

func TestPoolsFile(t *testing.T) {
	good := writeConfig(t, `{
		"courier": {"extension_length": 6, "quarantine_seconds": 3600,
			"unknown_caller": {"action": "announce", "prompt": "not_in_service"},
			"expiry": {"mode": "finish"}, "callback_window_seconds": 7200},
		"rides": {}
	}`)
	c, err := loadServeConfig([]string{"--pools", good}, mapEnv(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	courier := c.Pools["courier"]
	if len(c.Pools) != 2 || courier.ExtensionLength != 6 || *courier.Quarantine != time.Hour ||
		courier.UnknownCaller.Action != store.UnknownAnnounce || courier.Expiry.Mode != store.ExpiryFinish ||
		courier.CallbackWindow != 2*time.Hour {
		t.Fatalf("pools %+v", c.Pools)
	}

	tests := []struct{ name, body, want string }{
		{"not an object", `[1]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"trailing", `{} {}`, "trailing data"},
		{"unknown field", `{"p": {"extension_len": 4}}`, `pool "p"`},
		{"bad field", `{"p": {"unknown_caller": {"code": 99}}}`, "unknown_caller.code"},
		{"bad duration", `{"p": {"quarantine_seconds": -3}}`, "quarantine_seconds"},
		{"pool not an object", `{"p": 4}`, `pool "p"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadServeConfig([]string{"--pools", writeConfig(t, tc.body)}, mapEnv(nil), &bytes.Buffer{})
			if !isUsage(err) || !strings.Contains(err.Error(), "--pools") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a usage error about %s", err, tc.want)
			}
		})
	}
	if _, err := loadServeConfig([]string{"--pools", filepath.Join(t.TempDir(), "none.json")}, mapEnv(nil), &bytes.Buffer{}); !isUsage(err) {
		t.Fatalf("missing file: %v", err)
	}
	// The environment and the --config file name it too.
	env := mapEnv(map[string]string{"XBRIDGE_POOLS": good})
	if c, err := loadServeConfig(nil, env, &bytes.Buffer{}); err != nil || len(c.Pools) != 2 {
		t.Fatalf("from the environment: %+v, %v", c.Pools, err)
	}
}

// TestApplyPools: the file's settings reach the store at start, over what
// the API set before.
func TestApplyPools(t *testing.T) {
	st := scratchStore(t)
	ctx := context.Background()
	if err := st.SetPoolSettings(ctx, "courier", store.PoolSettings{ExtensionLength: 3}); err != nil {
		t.Fatal(err)
	}
	pools := map[string]store.PoolSettings{"courier": {ExtensionLength: 5}, "rides": {CallbackWindow: time.Hour}}
	if err := applyPools(ctx, st, pools, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	for pool, want := range map[string]int{"courier": 5, "rides": 4} {
		s, err := st.PoolSettings(ctx, pool)
		if err != nil || s.ExtensionLength != want {
			t.Fatalf("%s: %+v, %v", pool, s, err)
		}
	}
	// A pool name the store refuses fails the start, naming it.
	err := applyPools(ctx, st, map[string]store.PoolSettings{"bad name": {}}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), `"bad name"`) {
		t.Fatalf("bad pool name: %v", err)
	}
}

// TestLoadPoolPrompts: at start the pools' own recordings load from --pools
// (a bad file stops the start) and from what PUT stored before the restart
// (a file gone since leaves that pool on the defaults, logged).
func TestLoadPoolPrompts(t *testing.T) {
	st := scratchStore(t)
	ctx := context.Background()
	zh := func(name string) map[string]string {
		return map[string]string{string(ivr.PromptGoodbye): filepath.Join("..", "..", "testdata", "prompts", "zh", name)}
	}
	for pool, files := range map[string]map[string]string{"stored": zh("goodbye.wav"), "gone": zh("deleted.wav")} {
		if err := st.SetPoolSettings(ctx, pool, store.PoolSettings{Prompts: files}); err != nil {
			t.Fatal(err)
		}
	}
	load := func() *ivr.Prompts {
		p, err := ivr.LoadPrompts(xbridge.DefaultPrompts, "testdata/prompts/en")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodbye := func(p *ivr.Prompts, pool string) *media.Sound {
		s, err := p.Sound(pool, ivr.PromptGoodbye)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	var logged bytes.Buffer
	p := load()
	file := map[string]store.PoolSettings{"config": {Prompts: zh("goodbye.wav")}}
	if err := loadPoolPrompts(ctx, p, file, st, zerolog.New(&logged)); err != nil {
		t.Fatal(err)
	}
	defaults := goodbye(p, "nobody")
	for pool, own := range map[string]bool{"config": true, "stored": true, "gone": false} {
		if got := goodbye(p, pool) != defaults; got != own {
			t.Errorf("pool %s plays its own goodbye: %v, want %v", pool, got, own)
		}
	}
	if !strings.Contains(logged.String(), `"pool":"gone"`) {
		t.Errorf("the unplayable stored prompt was not logged: %s", logged.String())
	}

	bad := map[string]store.PoolSettings{"config": {Prompts: zh("deleted.wav")}}
	if err := loadPoolPrompts(ctx, load(), bad, st, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "--pools") {
		t.Fatalf("a --pools prompt that cannot play: %v, want the start to fail", err)
	}
}
