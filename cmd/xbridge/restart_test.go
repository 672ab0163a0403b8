package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestBindingsSurviveKill9 is the promise to platforms: a binding the API
// answered 2xx for is never lost. The real binary takes concurrent binding
// requests, is SIGKILLed while more are in flight, and after a restart on
// the same data directory every acknowledged binding is there.
func TestBindingsSurviveKill9(t *testing.T) {
	bin, cfg, env := binaryEnv(t)
	base := "http://" + cfg.API
	client := &http.Client{Timeout: 5 * time.Second}

	start := func() *exec.Cmd { return startServe(t, bin, env, base, nil) }
	post := func(path string, body any) (*http.Response, map[string]any, error) {
		raw, _ := json.Marshal(body)
		res, err := client.Post(base+path, "application/json", bytes.NewReader(raw))
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		var out map[string]any
		err = json.NewDecoder(res.Body).Decode(&out)
		return res, out, err
	}

	cmd := start()
	numbers := make([]string, 20)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("+861700000%04d", i)
	}
	if res, _, err := post("/v1/pools/default/numbers", map[string]any{"numbers": numbers}); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("add numbers: %v %v", res, err)
	}

	// Writers keep binding until the process dies under them.
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500 && ctx.Err() == nil; i++ {
				res, out, err := post("/v1/bindings", map[string]any{
					"a": fmt.Sprintf("+86138%02d%06d", w, i), "b": fmt.Sprintf("+86139%02d%06d", w, i),
					"ttl_seconds": 3600,
				})
				if err != nil {
					return // the process is gone
				}
				if res.StatusCode != http.StatusCreated {
					t.Errorf("create: status %d %v", res.StatusCode, out)
					return
				}
				mu.Lock()
				acked = append(acked, out["id"].(string))
				mu.Unlock()
			}
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 150 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	stop()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no binding was acknowledged before the kill")
	}

	cmd = start()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for _, id := range acked {
		res, err := client.Get(base + "/v1/bindings/" + id)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("binding %s, acknowledged before SIGKILL, is gone after restart: status %d", id, res.StatusCode)
		}
	}
	t.Logf("%d bindings acknowledged before SIGKILL, all present after restart", len(acked))
}

// startServe starts the binary's serve with env and waits until its API at
// base answers /healthz; the process's logs go to logs when it is set.
func startServe(t *testing.T, bin string, env []string, base string, logs *syncBuffer) *exec.Cmd {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	if logs != nil {
		cmd.Stderr = logs
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, err := client.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return cmd
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatal("binary never answered /healthz")
	return nil
}

// binaryEnv builds the binary (skipping the test under -short) and gives a
// loopback configuration with a fresh data directory, as the environment
// a serve run takes it from.
func binaryEnv(t *testing.T) (bin string, cfg Config, env []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin = buildBinary(t)
	dir := t.TempDir()
	cfg, err := loopbackConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(),
		"XBRIDGE_DATA="+dir, "XBRIDGE_SIP="+cfg.SIP.String(), "XBRIDGE_API="+cfg.API,
		"XBRIDGE_TRUNK="+cfg.Trunk, "XBRIDGE_RTP_PORTS="+portRange(cfg), "XBRIDGE_CONFIG=")
	return bin, cfg, env
}
