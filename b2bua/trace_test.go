package b2bua

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xbridge/xbridge/internal/tracetest"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/store"
)

// TestTraces replays every trace in testdata/traces against an in-process
// engine whose outbound trunk is the replayer's trunk socket. XBRIDGE_TRACES
// names another directory, for trying out traces being written.
func TestTraces(t *testing.T) {
	dir, minimum := os.Getenv("XBRIDGE_TRACES"), 0
	if dir == "" {
		dir, minimum = filepath.Join("..", "testdata", "traces"), 6
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.trace"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < minimum || len(files) == 0 {
		t.Fatalf("found %d traces in %s, want at least %d", len(files), dir, max(minimum, 1))
	}
	for _, file := range files {
		tr, err := tracetest.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tr.Name, func(t *testing.T) {
			if tr.Skip != "" {
				t.Skip(tr.Skip)
			}
			rp, err := tracetest.New(tracetest.WithLog(t.Logf))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rp.Close() })
			opts := []engineOpt{withTrunkAddr(rp.TrunkAddr())}
			if d := tr.Engine.AnswerTimeout; d > 0 {
				opts = append(opts, withAnswerTimeout(d))
			}
			// A trace calls back the instant a courier's call ends, where a
			// person takes seconds: the caller note, written in the
			// background in production (routing's noteCaller), is written
			// before the INVITE here, so the callback traces cannot race it.
			// TestCallbackReachesLastCourier covers the background note.
			ropts := []routing.Option{routing.WithInlineNotes()}
			te := newTestEngineWith(t, ropts, traceEngineOptions(t, tr.Engine), opts...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := rp.Run(ctx, te.addr, tr, storeSetup{te.store}); err != nil {
				t.Fatal(err)
			}
			te.waitIdle()
		})
	}
}

// traceEngineOptions are the engine options a trace's header asks for:
// prompts (so the engine answers AXE calls itself) and the menu's timers.
func traceEngineOptions(t *testing.T, eo tracetest.EngineOptions) []Option {
	t.Helper()
	var opts []Option
	if eo.Prompts != "" {
		p, err := ivr.LoadPrompts(os.DirFS(filepath.Join("..", "testdata", "prompts")), eo.Prompts)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, WithPrompts(p))
	}
	if eo.FirstDigit > 0 || eo.InterDigit > 0 || eo.Tries > 0 {
		opts = append(opts, WithMenu(ivr.Config{FirstDigit: eo.FirstDigit, InterDigit: eo.InterDigit, Tries: eo.Tries}))
	}
	return opts
}

// withTrunkAddr points the engine's outbound trunk at addr instead of the
// harness's sipgo trunk.
func withTrunkAddr(addr string) engineOpt {
	return func(s *engineSetup) { s.cfg.Trunk = addr }
}

// storeSetup gives a trace its bindings straight through the store.
type storeSetup struct{ st store.Store }

func (s storeSetup) CreateBinding(ctx context.Context, b tracetest.Binding) (string, error) {
	if _, err := s.st.AddNumbers(ctx, "default", []string{b.X}); err != nil {
		return "", fmt.Errorf("add %s to pool: %w", b.X, err)
	}
	nb := store.NewBinding{Pool: "default", X: b.X, A: b.A, B: b.B, Extension: b.Extension, ExpiresAt: time.Now().Add(b.TTL)}
	if b.Model == "axe" {
		nb.Model = store.ModelAXE
	}
	bd, _, err := s.st.CreateBinding(ctx, nb)
	if err != nil {
		return "", err
	}
	return bd.ID, nil
}

func (s storeSetup) DeleteBinding(ctx context.Context, id string) error {
	_, err := s.st.DeleteBinding(ctx, id)
	return err
}
