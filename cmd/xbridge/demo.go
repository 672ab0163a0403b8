package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// The demo's numbers: A is the buyer, B the courier, X the middle number
// from the demo pool. Canonical E.164 digits, as the store keeps them.
const (
	demoPool = "demo"
	demoX    = "8617000000000"
	demoA    = "8613800000001"
	demoB    = "8613900000002"
)

// demoCheck is one thing the demo verified, for the report.
type demoCheck struct {
	what   string
	ok     bool
	detail string
}

// demoRun collects what happened, for the report.
type demoRun struct {
	checks []demoCheck
	lines  []string
}

func (r *demoRun) check(what string, ok bool, detail string, args ...any) bool {
	r.checks = append(r.checks, demoCheck{what: what, ok: ok, detail: fmt.Sprintf(detail, args...)})
	return ok
}

func (r *demoRun) say(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *demoRun) failed() int {
	n := 0
	for _, c := range r.checks {
		if !c.ok {
			n++
		}
	}
	return n
}

func (r *demoRun) write(w io.Writer) {
	for _, l := range r.lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "\nChecks:")
	for _, c := range r.checks {
		mark := "ok  "
		if !c.ok {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  [%s] %s: %s\n", mark, c.what, c.detail)
	}
	if n := r.failed(); n > 0 {
		fmt.Fprintf(w, "\nDEMO FAILED: %d of %d checks failed\n", n, len(r.checks))
	} else {
		fmt.Fprintf(w, "\nDEMO PASSED: %d checks\n", len(r.checks))
	}
}

// demo runs the engine in this process on free loopback ports with a
// temporary data directory, places one masked call A -> X -> B between two
// simulated phones, and writes what each phone saw to out. It fails when
// any check fails or the whole run takes longer than cfg.Timeout.
func demo(ctx context.Context, cfg demoConfig, log zerolog.Logger, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	run := &demoRun{}
	err := demoCall(ctx, cfg, log, run)
	if err != nil {
		run.check("demo ran to the end", false, "%v", err)
	}
	run.write(out)
	if n := run.failed(); n > 0 {
		if err != nil {
			return fmt.Errorf("demo failed: %w", err)
		}
		return fmt.Errorf("demo failed: %d of %d checks failed", n, len(run.checks))
	}
	return nil
}

func demoCall(ctx context.Context, cfg demoConfig, log zerolog.Logger, run *demoRun) (err error) {
	dir, err := os.MkdirTemp("", "xbridge-demo-")
	if err != nil {
		return fmt.Errorf("temp data dir: %w", err)
	}
	defer os.RemoveAll(dir)

	engineCfg, err := loopbackConfig(dir)
	if err != nil {
		return err
	}
	// B's socket is the trunk: bound now, so the address the engine is
	// given is already ours.
	trunkSock, err := listenPhoneSocket(cfg.Transport)
	if err != nil {
		return err
	}
	defer trunkSock.Close() // the phone closes it too; a second close is harmless
	trunk := trunkSock.addr()
	engineCfg.Trunk = trunk.String()
	engineCfg.TrunkTransport = cfg.Transport
	aSock, err := listenPhoneSocket(cfg.Transport)
	if err != nil {
		return err
	}
	defer aSock.Close()
	audioA, err := newAudio(0xA0A0A0A0)
	if err != nil {
		return err
	}
	defer audioA.close()
	audioB, err := newAudio(0xB0B0B0B0)
	if err != nil {
		return err
	}
	defer audioB.close()

	// The engine, exactly as `xbridge serve` runs it.
	serveCtx, stopServe := context.WithCancel(context.Background())
	serveDone := make(chan error, 1)
	apiReady := make(chan net.Addr, 1)
	go func() { serveDone <- serve(serveCtx, engineCfg, log, func(a net.Addr) { apiReady <- a }) }()
	defer func() {
		stopServe()
		select {
		case serr := <-serveDone:
			if serr != nil {
				err = errors.Join(err, fmt.Errorf("engine shutdown: %w", serr))
			}
		case <-time.After(callShutdownTimeout + apiShutdownTimeout):
			err = errors.Join(err, errors.New("engine did not shut down"))
		}
	}()
	var apiAddr net.Addr
	select {
	case apiAddr = <-apiReady:
	case serr := <-serveDone:
		serveDone <- serr // for the deferred wait
		return fmt.Errorf("engine did not start: %w", serr)
	case <-ctx.Done():
		return fmt.Errorf("engine did not start: %w", ctx.Err())
	}
	run.say("xbridge demo: engine on SIP %s (udp+tcp), API http://%s, trunk %s, relay ports %d-%d; phones use SIP over %s",
		engineCfg.SIP, apiAddr, engineCfg.Trunk, engineCfg.PortMin, engineCfg.PortMax, cfg.Transport)

	// The platform's part: a pool with X and an AXB binding, through the API.
	api := &apiClient{base: "http://" + apiAddr.String(), token: engineCfg.APIToken, http: &http.Client{Timeout: 5 * time.Second}}
	if err := api.do(ctx, http.MethodPost, "/v1/pools/"+demoPool+"/numbers", map[string]any{"numbers": []string{demoX}}, http.StatusOK, nil); err != nil {
		return fmt.Errorf("add X to pool: %w", err)
	}
	var binding struct{ ID, X, A, B string }
	if err := api.do(ctx, http.MethodPost, "/v1/bindings", map[string]any{
		"pool": demoPool, "a": "+" + demoA, "b": "+" + demoB, "ttl_seconds": 600, "order_id": "demo-order-1",
	}, http.StatusCreated, &binding); err != nil {
		return fmt.Errorf("create binding: %w", err)
	}
	run.say("platform: pool %q holds X=%s; binding %s: A=%s <-> B=%s via X=%s", demoPool, demoX, binding.ID, binding.A, binding.B, binding.X)
	if !run.check("binding uses X", binding.X == demoX, "binding X=%s", binding.X) {
		return errors.New("binding is not on the demo X")
	}

	// The phones.
	phoneB, err := newCallee(ctx, trunkSock, demoB, audioB)
	if err != nil {
		return err
	}
	defer phoneB.close()
	phoneA, err := newCaller(ctx, aSock, "+"+demoA, audioA)
	if err != nil {
		return err
	}
	defer phoneA.close()

	// A dials X.
	sess, responses, err := phoneA.call(ctx, engineCfg.SIP, "+"+demoX)
	codes := make([]string, len(responses))
	for i, r := range responses {
		codes[i] = fmt.Sprint(r.StatusCode)
	}
	if err != nil {
		return fmt.Errorf("phone A's call to X (responses %s): %w", strings.Join(codes, ","), err)
	}
	defer sess.Close()

	var inviteB *sip.Request
	select {
	case inviteB = <-phoneB.invite:
	case <-ctx.Done():
		return fmt.Errorf("phone B never saw the INVITE: %w", ctx.Err())
	}
	select {
	case <-phoneB.acked:
	case <-ctx.Done():
		return fmt.Errorf("phone B's 200 OK was never acknowledged: %w", ctx.Err())
	}

	// What B was shown.
	fromB := inviteB.From()
	paiB := inviteB.GetHeader("P-Asserted-Identity")
	mediaB, sdpErr := sdpMediaAddr(inviteB.Body())
	run.say("\nPhone B (courier, behind the trunk %s) got INVITE %s", trunk, inviteB.Recipient.String())
	run.say("  From:                %s", headerValue(fromB))
	run.say("  P-Asserted-Identity: %s", headerValue(paiB))
	run.say("  audio to:            %s (A's own RTP address is %s)", mediaB, audioA.addr())
	rawB := inviteB.String()
	run.check("B's INVITE came over "+cfg.Transport, viaTransport(inviteB.Via()) == cfg.Transport, "top Via %s", headerValue(inviteB.Via()))
	run.check("B sees X in From", fromB != nil && strings.Contains(fromB.Address.User, demoX), "From user %q", userOf(fromB))
	run.check("B sees X in P-Asserted-Identity", paiB != nil && strings.Contains(paiB.Value(), demoX), "P-Asserted-Identity %q", headerValue(paiB))
	run.check("A's number nowhere in B's INVITE", !strings.Contains(rawB, demoA), "searched %d bytes for %s", len(rawB), demoA)
	run.check("B's SDP points at the relay", sdpErr == nil && demoRelayAddr(mediaB, engineCfg) && mediaB != audioA.addr(),
		"audio to %s, relay %s:%d-%d (sdp error: %v)", mediaB, engineCfg.MediaIP, engineCfg.PortMin, engineCfg.PortMax, sdpErr)
	run.check("A's RTP address nowhere in B's INVITE",
		!strings.Contains(rawB, audioA.addr().String()) && !strings.Contains(rawB, fmt.Sprintf("m=audio %d ", audioA.addr().Port())),
		"looked for %s and its m= port", audioA.addr())

	// What A was shown.
	answer := responses[len(responses)-1]
	mediaA, sdpErr := sdpMediaAddr(answer.Body())
	run.check("A's call went over "+cfg.Transport, viaTransport(answer.Via()) == cfg.Transport, "top Via %s", headerValue(answer.Via()))
	rawA := ""
	for _, r := range responses {
		rawA += r.String()
	}
	run.say("\nPhone A (buyer %s) dialled X=%s: responses %s", "+"+demoA, demoX, strings.Join(codes, " "))
	run.say("  audio to:            %s (B's own RTP address is %s)", mediaA, audioB.addr())
	run.check("B's number nowhere in what A received", !strings.Contains(rawA, demoB), "searched %d bytes for %s", len(rawA), demoB)
	run.check("A's SDP answer points at the relay", sdpErr == nil && demoRelayAddr(mediaA, engineCfg) && mediaA != audioB.addr(),
		"audio to %s (sdp error: %v)", mediaA, sdpErr)
	if sdpErr != nil {
		return errors.New("no usable SDP answer for A")
	}

	// Audio both ways, at once, as in a conversation.
	sendErr := make(chan error, 2)
	go func() { sendErr <- audioA.send(ctx, mediaA, cfg.Packets) }()
	go func() { sendErr <- audioB.send(ctx, mediaB, cfg.Packets) }()
	for range 2 {
		if err := <-sendErr; err != nil {
			return fmt.Errorf("send audio: %w", err)
		}
	}
	audioA.waitReceived(ctx, int64(cfg.Packets), time.Second)
	audioB.waitReceived(ctx, int64(cfg.Packets), time.Second)

	// A hangs up; B must hear the BYE.
	byeErr := sess.Bye(ctx)
	gotBye := false
	select {
	case <-phoneB.bye:
		gotBye = true
	case <-ctx.Done():
	}

	run.say("\nAudio (%d PCMU frames of 20 ms each way):", cfg.Packets)
	run.say("  A sent %d, received %d from B (stray %d)", audioA.sent.Load(), audioA.received.Load(), audioA.foreign.Load())
	run.say("  B sent %d, received %d from A (stray %d)", audioB.sent.Load(), audioB.received.Load(), audioB.foreign.Load())
	run.say("\nHang-up: A hung up (BYE answered: %v); B received the BYE from the engine: %v", byeErr == nil, gotBye)
	// Loopback UDP on a busy machine may drop a frame; more than 10% is a fault.
	enough := int64(cfg.Packets) * 9 / 10
	run.check("audio A -> B", audioB.received.Load() >= enough, "%d of %d frames", audioB.received.Load(), audioA.sent.Load())
	run.check("audio B -> A", audioA.received.Load() >= enough, "%d of %d frames", audioA.received.Load(), audioB.sent.Load())
	run.check("no audio echoed back to its sender", audioA.foreign.Load() == 0 && audioB.foreign.Load() == 0, "stray A %d, B %d", audioA.foreign.Load(), audioB.foreign.Load())
	run.check("A's BYE answered", byeErr == nil, "%v", errOrOK(byeErr))
	run.check("B got BYE", gotBye, "BYE relayed to the trunk side")
	return nil
}

func demoRelayAddr(ap netip.AddrPort, cfg Config) bool {
	p := int(ap.Port())
	return ap.Addr() == cfg.MediaIP && p >= cfg.PortMin && p <= cfg.PortMax
}

func viaTransport(v *sip.ViaHeader) string {
	if v == nil {
		return ""
	}
	return strings.ToLower(v.Transport)
}

// headerValue prints a header that may be missing: a nil interface or a
// nil *FromHeader alike.
func headerValue[H interface {
	comparable
	sip.Header
}](h H) string {
	var missing H
	if h == missing {
		return "(none)"
	}
	return h.Value()
}

func userOf(h *sip.FromHeader) string {
	if h == nil {
		return ""
	}
	return h.Address.User
}

func errOrOK(err error) string {
	if err == nil {
		return "200 OK"
	}
	return err.Error()
}

// apiClient speaks to the engine's HTTP API as a platform would.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func (c *apiClient) do(ctx context.Context, method, path string, body any, want int, into any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, bytes.TrimSpace(data))
	}
	if into != nil {
		if err := json.Unmarshal(data, into); err != nil {
			return fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}
