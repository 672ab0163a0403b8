package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/store"
)

// syncBuffer collects log output written from several goroutines.
type syncBuffer = testkit.LogBuffer

// TestServeLifecycle runs `xbridge serve` through run(), as main does, on
// free loopback ports: the API answers, cancelling the context (what
// SIGTERM does) shuts everything down cleanly, and the bbolt file is left
// closed and reopenable.
func TestServeLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // serve must create it
	cfg, err := loopbackConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"serve",
		"--data", dir,
		"--sip", cfg.SIP.String(),
		"--api", cfg.API,
		"--trunk", cfg.Trunk,
		"--rtp-ports", portRange(cfg),
		"--log-level", "debug",
	}
	env := mapEnv(map[string]string{"XBRIDGE_API_TOKEN": "tok", "XBRIDGE_TRUSTED": "127.0.0.0/8"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, logs syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, args, &stdout, &logs, env) }()

	client := &http.Client{Timeout: 2 * time.Second}
	healthz := "http://" + cfg.API + "/healthz"
	var status int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case code := <-exit:
			t.Fatalf("serve exited early with %d; logs:\n%s", code, logs.String())
		default:
		}
		res, err := client.Get(healthz)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		status = res.StatusCode
		break
	}
	if status != http.StatusOK {
		t.Fatalf("GET /healthz: status %d; logs:\n%s", status, logs.String())
	}

	// The token from the environment is in force.
	res, err := client.Post("http://"+cfg.API+"/v1/bindings", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /v1/bindings without token: status %d, want 401", res.StatusCode)
	}

	// The engine's live state is served, behind the token.
	req, _ := http.NewRequest(http.MethodGet, "http://"+cfg.API+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer tok")
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var live engineStatus
	err = json.NewDecoder(res.Body).Decode(&live)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/status: %d, %v", res.StatusCode, err)
	}
	if live.ActiveCalls != 0 || live.RelayPortsInUse != 0 {
		t.Errorf("idle engine reports %+v", live)
	}

	// SIP listens on UDP and TCP: both ports are held.
	if l, err := net.Listen("tcp", cfg.SIP.String()); err == nil {
		l.Close()
		t.Errorf("SIP TCP %s not held by the engine", cfg.SIP)
	}

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("serve exit %d; logs:\n%s", code, logs.String())
		}
	case <-time.After(callShutdownTimeout + apiShutdownTimeout + 5*time.Second):
		t.Fatalf("serve did not return after cancel; logs:\n%s", logs.String())
	}

	// Startup line with every effective setting, and the shutdown order.
	out := logs.String()
	for _, want := range []string{`"message":"starting xbridge"`, `"sip":"` + cfg.SIP.String() + `"`, `"api_token_set":true`,
		`"trusted":["127.0.0.0/8"]`, `"rtp_ports":"` + portRange(cfg) + `"`, `"media_ip":"127.0.0.1"`, `"quarantine":"24h0m0s"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if strings.Contains(out, `"tok"`) {
		t.Error("the API token appears in the logs")
	}
	order := []string{"shutting down", "API stopped", "calls ended", "media relay closed", "store closed"}
	last := -1
	for _, step := range order {
		i := strings.Index(out, step)
		if i < 0 || i < last {
			t.Errorf("shutdown step %q missing or out of order %v; logs:\n%s", step, order, out)
			break
		}
		last = i
	}

	if _, err := os.Stat(filepath.Join(dir, dbFile)); err != nil {
		t.Fatalf("bbolt file: %v", err)
	}
	// Closed for real: the file lock is free again.
	st, err := store.Open(filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatalf("reopen store after shutdown: %v", err)
	}
	st.Close()
	// And the API and SIP ports are free again.
	for _, addr := range []string{cfg.API, cfg.SIP.String()} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still held after shutdown: %v", addr, err)
			continue
		}
		l.Close()
	}
}

// TestServeStartFailures: a resource that cannot be had is a clear error,
// returned promptly, and leaves nothing running.
func TestServeStartFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	takenUDP, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer takenUDP.Close()
	// A data dir whose bbolt file another "process" holds open.
	lockedDir := t.TempDir()
	held, err := store.Open(filepath.Join(lockedDir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	tests := []struct {
		name  string
		tweak func(c *Config)
		want  string
	}{
		{"data dir is a file", func(c *Config) { c.DataDir = notDir }, "create data directory"},
		{"store locked by another process", func(c *Config) { c.DataDir = lockedDir }, "open store"},
		{"API port taken", func(c *Config) { c.API = taken.Addr().String() }, "listen for API"},
		{"SIP UDP port taken", func(c *Config) {
			c.SIP = unmapped(takenUDP.LocalAddr().(*net.UDPAddr).AddrPort())
		}, "SIP engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loopbackConfig(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			tt.tweak(&cfg)
			done := make(chan error, 1)
			go func() { done <- serve(context.Background(), cfg, newLogger(io.Discard, "json", 0), nil) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want one containing %q", err, tt.want)
				}
				t.Logf("error: %v", err)
				if errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v: failure reported as a cancel", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not give up")
			}
		})
	}
}

func portRange(c Config) string {
	return strconv.Itoa(c.PortMin) + "-" + strconv.Itoa(c.PortMax)
}

// BenchmarkServeStartStop measures one whole life of the engine: open the
// store, start relay, SIP and API, then shut it all down in order. It is
// what a restart costs.
func BenchmarkServeStartStop(b *testing.B) {
	log := zerolog.Nop()
	for b.Loop() {
		cfg, err := loopbackConfig(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- serve(ctx, cfg, log, func(net.Addr) { close(ready) }) }()
		select {
		case <-ready:
		case err := <-done:
			b.Fatalf("serve: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatalf("shutdown: %v", err)
		}
	}
}

// TestServeEndsCallsOnShutdown: a call still up when serve is told to stop
// is ended with a BYE to both phones before serve returns.
func TestServeEndsCallsOnShutdown(t *testing.T) {
	cfg, err := loopbackConfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trunkSock, err := listenPhoneSocket("udp")
	if err != nil {
		t.Fatal(err)
	}
	defer trunkSock.Close()
	cfg.Trunk = trunkSock.addr().String()
	aSock, err := listenPhoneSocket("udp")
	if err != nil {
		t.Fatal(err)
	}
	defer aSock.Close()
	audioA, err := newAudio(1)
	if err != nil {
		t.Fatal(err)
	}
	defer audioA.close()
	audioB, err := newAudio(2)
	if err != nil {
		t.Fatal(err)
	}
	defer audioB.close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	apiReady := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(serveCtx, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), func(a net.Addr) { apiReady <- a })
	}()
	var apiAddr net.Addr
	select {
	case apiAddr = <-apiReady:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}

	api := &apiClient{base: "http://" + apiAddr.String(), token: cfg.APIToken, http: &http.Client{Timeout: 5 * time.Second}}
	if err := api.do(ctx, http.MethodPost, "/v1/pools/p/numbers", map[string]any{"numbers": []string{demoX}}, http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	if err := api.do(ctx, http.MethodPost, "/v1/bindings", map[string]any{"pool": "p", "a": demoA, "b": demoB, "ttl_seconds": 60}, http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	phoneB, err := newCallee(ctx, trunkSock, demoB, audioB)
	if err != nil {
		t.Fatal(err)
	}
	defer phoneB.close()
	phoneA, err := newCaller(ctx, aSock, "+"+demoA, audioA)
	if err != nil {
		t.Fatal(err)
	}
	defer phoneA.close()
	sess, responses, err := phoneA.call(ctx, cfg.SIP, "+"+demoX)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	defer sess.Close()
	select {
	case <-phoneB.acked:
	case <-ctx.Done():
		t.Fatal("B's answer never acknowledged")
	}
	// The call is up when audio flows through the relay.
	relayForB, err := sdpMediaAddr(responses[len(responses)-1].Body())
	if err != nil {
		t.Fatal(err)
	}
	if err := audioA.send(ctx, relayForB, 5); err != nil {
		t.Fatal(err)
	}
	audioB.waitReceived(ctx, 1, 5*time.Second)
	if audioB.received.Load() == 0 {
		t.Fatal("no audio reached B: the call is not up")
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("serve did not return")
	}
	// serve returned after each BYE was answered; the phone's handler marks
	// it just after answering, hence the short wait.
	for name, bye := range map[string]chan struct{}{"A": phoneA.bye, "B": phoneB.bye} {
		select {
		case <-bye:
		case <-time.After(2 * time.Second):
			t.Errorf("phone %s got no BYE", name)
		}
	}
}
