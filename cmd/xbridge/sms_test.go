package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/internal/testkit"
)

// TestSMSRelayBinary drives the binary's SMS relay end to end: a pickup
// code from A reaches B through a trunk that first says the phone is
// unreachable; after the binding expires, B's SMS still reaches A while a
// call is refused with 480; a stranger's SMS is refused; every event
// reaches the signed webhook and /metrics counts it all.
func TestSMSRelayBinary(t *testing.T) {
	const secret = "whsec-sms"
	hook := signedWebhook(t, secret)
	bin, cfg, env := binaryEnv(t)
	hooks := t.TempDir() + "/webhooks.json"
	writeJSONFile(t, hooks, map[string]any{"*": map[string]any{"url": hook.URL, "secret": secret}})
	env = append(env, "XBRIDGE_WEBHOOKS="+hooks, "XBRIDGE_SMS_RETRY_MIN=200ms", "XBRIDGE_SMS_RETRY_MAX=400ms")
	base := "http://" + cfg.API
	var logs syncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("engine logs:\n%s", logs.String())
		}
	}()
	cmd := startServe(t, bin, env, base, &logs)
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()

	var mu sync.Mutex
	script := []int{480}
	got := make(chan *sip.Request, 16)
	trunk := testkit.NewUA(t, "trunk", cfg.Trunk)
	trunk.Server.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		mu.Lock()
		code := 200
		if len(script) > 0 {
			code, script = script[0], script[1:]
		}
		mu.Unlock()
		got <- req
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, "", nil))
	})
	trunk.ServeUDP()
	carrierAddr, err := freeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	carrier := testkit.NewUA(t, "carrier", carrierAddr.String())
	carrier.ServeUDP()
	send := func(method sip.RequestMethod, from, to, body string) int {
		t.Helper()
		req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: to, Host: cfg.SIP.Addr().String(), Port: int(cfg.SIP.Port())})
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: from, Host: "carrier.example"}, Params: testkit.Params("tag", sip.GenerateTagN(8))})
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: to, Host: "carrier.example"}})
		if method == sip.MESSAGE {
			req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
		} else {
			req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: carrier.Host, Port: carrier.Port}})
			req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			body = string(peerSDP("127.0.0.1", 40000))
		}
		req.SetBody([]byte(body))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := carrier.Client.Do(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return res.StatusCode
	}
	relayed := func() *sip.Request {
		t.Helper()
		select {
		case req := <-got:
			return req
		case <-time.After(10 * time.Second):
			t.Fatal("no MESSAGE reached the trunk")
			return nil
		}
	}

	const x, a, b, stranger = "+8617000000001", "+8613800000001", "+8613900000002", "+8613500000005"
	postJSON(t, base, "/v1/pools/default/numbers", map[string]any{"numbers": []string{x}})
	binding := postJSON(t, base, "/v1/bindings", map[string]any{"a": a, "b": b, "x": x, "ttl_seconds": 2, "order_id": "order-sms"})

	if code := send(sip.MESSAGE, a, x, "取件码 8842"); code != 202 {
		t.Fatalf("A's MESSAGE answered %d, want 202", code)
	}
	first, second := relayed(), relayed() // 480, then the retry
	for _, req := range []*sip.Request{first, second} {
		if req.Recipient.User != b || req.From().Address.User != x || string(req.Body()) != "取件码 8842" || strings.Contains(req.String(), a[3:]) {
			t.Errorf("relayed MESSAGE:\n%s", req)
		}
	}
	if first.CallID().Value() != second.CallID().Value() || second.CSeq().SeqNo != 2 {
		t.Errorf("the retry is not the same SMS: Call-ID %s/%s CSeq %d", first.CallID().Value(), second.CallID().Value(), second.CSeq().SeqNo)
	}

	// Past its expiry the binding is in grace: SMS pass, calls do not.
	deadline := time.Now().Add(10 * time.Second)
	for getJSON(t, base, "/v1/bindings/"+binding["id"].(string))["state"] != "grace" {
		if time.Now().After(deadline) {
			t.Fatal("binding not in grace after its expiry")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := send(sip.INVITE, b, x, ""); code != 480 {
		t.Errorf("a call in the grace period answered %d, want 480", code)
	}
	if code := send(sip.MESSAGE, b, x, "谢谢"); code != 202 {
		t.Fatalf("B's MESSAGE in grace answered %d, want 202", code)
	}
	if req := relayed(); req.Recipient.User != a || req.From().Address.User != x {
		t.Errorf("B's MESSAGE in grace went to %s from %s", req.Recipient.User, req.From().Address.User)
	}
	if code := send(sip.MESSAGE, stranger, x, "spam"); code != 404 {
		t.Errorf("a stranger's MESSAGE answered %d, want 404", code)
	}

	// The call refused in grace is a call.blocked of its own stream; it
	// may come before or after the SMS events.
	want := []string{events.TypeSMSReceived, events.TypeSMSDelivered, events.TypeSMSReceived, events.TypeSMSDelivered,
		events.TypeSMSBlocked, events.TypeBlocked}
	var types []string
	var delivered []events.MessageView
	for _, raw := range hook.WaitAccepted(t, len(want), 15*time.Second) {
		var p events.MessagePayload
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Type)
		if p.Type == events.TypeSMSDelivered {
			delivered = append(delivered, p.Message)
		}
	}
	if fmt.Sprint(countTypes(types)) != fmt.Sprint(countTypes(want)) {
		t.Errorf("events %v, want %v", types, want)
	}
	if len(delivered) == 2 && (delivered[0].Attempts != 2 || delivered[0].OrderID != "order-sms" || delivered[0].Grace || !delivered[1].Grace) {
		t.Errorf("delivered events: %+v", delivered)
	}
	for _, p := range hook.Posts() {
		if p.VerifyErr != nil {
			t.Errorf("delivery not signed right: %v", p.VerifyErr)
		}
	}
	checkMetrics(t, base, map[string]float64{
		`xbridge_sms_total{result="received"}`:  2,
		`xbridge_sms_total{result="delivered"}`: 2,
		`xbridge_sms_total{result="blocked"}`:   1,
		`xbridge_sms_total{result="failed"}`:    0,
		`xbridge_sms_retries_total`:             1,
		`xbridge_sms_queued`:                    0,
	})
}

func countTypes(types []string) map[string]int {
	n := map[string]int{}
	for _, t := range types {
		n[t]++
	}
	return n
}

func getJSON(t *testing.T, base, path string) map[string]any {
	t.Helper()
	res, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %v", path, res.StatusCode, out, err)
	}
	return out
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}
