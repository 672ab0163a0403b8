package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/internal/testkit"
)

// TestEventsSurviveKill9: a call's events wait in the outbox while the
// platform's receiver refuses them; the binary is SIGKILLed mid-delivery,
// started again, and delivers every event, signed, in order, once the
// receiver takes them. The call's record is there through the API.
func TestEventsSurviveKill9(t *testing.T) {
	const secret = "whsec-kill9"
	hook := signedWebhook(t, secret)
	hook.FailFirst(1<<30, http.StatusServiceUnavailable)
	bin, cfg, env := binaryEnv(t)
	hooks := filepath.Join(t.TempDir(), "webhooks.json")
	writeJSONFile(t, hooks, map[string]any{"*": map[string]any{"url": hook.URL, "secret_env": "TEST_WEBHOOK_SECRET"}})
	env = append(env, "XBRIDGE_WEBHOOKS="+hooks, "TEST_WEBHOOK_SECRET="+secret)
	base := "http://" + cfg.API
	var logs syncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("engine logs:\n%s", logs.String())
		}
	}()
	cmd := startServe(t, bin, env, base, &logs)
	defer func() {
		if cmd != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	post := func(path string, body any) map[string]any { return postJSON(t, base, path, body) }
	const x, a, b = "+8617000000001", "+8613800000001", "+8613900000002"
	post("/v1/pools/default/numbers", map[string]any{"numbers": []string{x}})
	binding := post("/v1/bindings", map[string]any{"a": a, "b": b, "x": x, "ttl_seconds": 3600, "order_id": "order-kill9"})

	newSIPPeer(t, "trunk", cfg.Trunk)
	carrierAddr, err := freeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	carrier := newSIPPeer(t, "carrier", carrierAddr.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, aDialog := answeredCall(ctx, t, cfg, carrier, a, x)
	time.Sleep(50 * time.Millisecond)
	if err := aDialog.Bye(ctx); err != nil {
		t.Fatal(err)
	}

	// The call is counted where Prometheus reads it.
	checkMetrics(t, base, map[string]float64{
		`xbridge_call_attempts_total{outcome="answered"}`:      1,
		`xbridge_calls_active`:                                 0,
		`xbridge_relay_ports_in_use`:                           0,
		`xbridge_bindings_live{model="AXB"}{pool="default"}`:   1,
		`xbridge_pool_numbers{pool="default"}{state="total"}`:  1,
		`xbridge_pool_numbers{pool="default"}{state="in_use"}`: 1,
		`xbridge_call_setup_seconds_count{stage="answer"}`:     1,
		`xbridge_call_talk_seconds_count`:                      1,
	})

	// The receiver has refused a delivery: the events are committed and
	// the dispatcher is at work. Kill it there.
	deadline := time.Now().Add(10 * time.Second)
	for len(hook.Posts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery attempted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	cmd = nil
	if n := len(hook.Accepted()); n != 0 {
		t.Fatalf("%d events accepted while the receiver refused them", n)
	}

	hook.FailFirst(0, 0)
	cmd = startServe(t, bin, env, base, &logs)
	var got []events.Payload
	for _, raw := range hook.WaitAccepted(t, 3, 15*time.Second) {
		var p events.Payload
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	want := []string{events.TypeInitiated, events.TypeAnswered, events.TypeReleased}
	seen := map[string]bool{}
	var order []string
	for _, p := range got {
		if !seen[p.ID] { // at least once: a redelivery may repeat one
			seen[p.ID] = true
			order = append(order, p.Type)
		}
	}
	if len(order) != len(want) || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("delivered %v, want %v in order", order, want)
	}
	for _, p := range hook.Posts() {
		if p.VerifyErr != nil {
			t.Errorf("delivery not signed right: %v", p.VerifyErr)
		}
	}
	checkMetrics(t, base, map[string]float64{
		`xbridge_events_delivered_total`:            float64(len(got)),
		`xbridge_webhook_posts_total{result="2xx"}`: float64(len(hook.Accepted())),
		`xbridge_events_held`:                       0,
		`xbridge_outbox_events`:                     0,
	})
	last := got[len(got)-1].Call
	if last.BindingID != binding["id"] || last.OrderID != "order-kill9" || last.ReleasedBy != events.ByCaller || last.Q850 != 16 {
		t.Errorf("released event: %+v", last)
	}
	res, err := http.Get(base + "/v1/records?order_id=order-kill9")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Records []events.RecordView `json:"records"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || len(list.Records) != 1 || list.Records[0].RecordID != last.RecordID {
		t.Errorf("GET /v1/records?order_id: %+v, %v", list, err)
	}
}

// signedWebhook is a receiver that checks every delivery's signature
// with secret.
func signedWebhook(t *testing.T, secret string) *testkit.Webhook {
	return testkit.NewWebhook(t, func(h http.Header, body []byte) error {
		return events.Verify(secret, h.Get(events.SignatureHeader), body, time.Now(), time.Minute)
	})
}

// checkMetrics scrapes /metrics, parses it with the Prometheus text parser
// and compares the samples named (name{label="value"}) with want, waiting
// a little for a call that is still ending.
func checkMetrics(t *testing.T, base string, want map[string]float64) {
	t.Helper()
	var got map[string]float64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = scrape(t, base)
		ok := true
		for k, v := range want {
			if got[k] != v {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + `="` + l.GetValue() + `"}`
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[name+"_count"+key[len(name):]] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Error("/metrics lacks the Go runtime's metrics")
	}
	return out
}
