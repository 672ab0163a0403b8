package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestMain sets sipgo's process-wide settings once, as main does, before
// any test builds a user agent: sipgo keeps its logger and UDP limit in
// unguarded globals, and setting them while an earlier test's transactions
// still read them would be a data race.
func TestMain(m *testing.M) {
	setSIPLimits()
	routeSIPLogs(zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	os.Exit(m.Run())
}

// TestBinaryStopsOnSIGTERM builds the real binary, configures it through
// the environment only, and checks that SIGTERM, even delivered twice, ends
// it cleanly (exit 0, store closed last).
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	bin, cfg, env := binaryEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = env
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	client := &http.Client{Timeout: time.Second}
	up := false
	for deadline := time.Now().Add(15 * time.Second); !up && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, err := client.Get("http://" + cfg.API + "/healthz"); err == nil {
			res.Body.Close()
			up = res.StatusCode == http.StatusOK
		}
	}
	if !up {
		cmd.Process.Kill()
		<-exited
		t.Fatalf("binary never answered /healthz; logs:\n%s", logs.String())
	}
	// The API listens only once SIP does, and the store is open: ready.
	if res, err := client.Get("http://" + cfg.API + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("/readyz of a running engine: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	// Twice, as timeout(1) and process-group kills do: the second delivery,
	// sent once shutdown has begun, must not cut it short.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if strings.Contains(logs.String(), "shutting down") {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(callShutdownTimeout + apiShutdownTimeout + 5*time.Second):
		cmd.Process.Kill()
		t.Fatalf("binary did not exit after SIGTERM; logs:\n%s", logs.String())
	}
	out := logs.String()
	if !strings.Contains(out, "shutting down") || !strings.HasSuffix(strings.TrimSpace(out), `"message":"store closed"}`) {
		t.Errorf("logs do not end with the store closing:\n%s", out)
	}
}

// buildBinary builds the real xbridge binary into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "xbridge")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
