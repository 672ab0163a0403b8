package api

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/store"
	"github.com/xbridge/xbridge/store/storetest"
)

// TestBindingGrace: an expired binding shows "state":"grace" with the end
// of its SMS grace, PATCH cannot revive it, and DELETE ends the grace; a
// live binding deleted is "ended" at once and is not in grace.
func TestBindingGrace(t *testing.T) {
	clock := storetest.NewClock(testNow)
	db, err := store.Open(filepath.Join(t.TempDir(), "xbridge.db"), store.WithClock(clock.Now),
		store.WithSweepInterval(5*time.Millisecond), store.WithSMSGrace(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	a := &testAPI{t: t, db: db, log: &lockedBuffer{},
		srv: testkit.HTTPServer(t, New(db, WithClock(clock.Now), WithLogger(zerolog.Nop())))}
	a.addPool("default", "17000000001", "17000000002")

	res := a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000002","ttl_seconds":60}`)
	if res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	b := res.view(t)
	if b.State != stateLive || b.GraceUntil != nil {
		t.Fatalf("a new binding: state %q grace_until %v", b.State, b.GraceUntil)
	}
	clock.Advance(2 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	var got bindingView
	for {
		res = a.do("GET", "/v1/bindings/"+b.ID, "")
		if res.status != 200 {
			t.Fatalf("GET in grace: %d %s", res.status, res.body)
		}
		got = res.view(t)
		if got.State == stateGrace {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binding still %q after its expiry", got.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if want := b.ExpiresAt.Add(72 * time.Hour); got.GraceUntil == nil || !got.GraceUntil.Equal(want) || got.A != b.A {
		t.Fatalf("in grace: %+v, want grace until %v", got, want)
	}
	if res := a.do("PATCH", "/v1/bindings/"+b.ID, `{"ttl_seconds":600}`, "Content-Type", "application/merge-patch+json"); res.status != 404 {
		t.Errorf("PATCH in grace: %d %s, want 404", res.status, res.body)
	}
	res = a.do("DELETE", "/v1/bindings/"+b.ID, "")
	if res.status != 200 || res.view(t).State != stateEnded {
		t.Fatalf("DELETE in grace: %d %s", res.status, res.body)
	}
	if res := a.do("GET", "/v1/bindings/"+b.ID, ""); res.status != 404 {
		t.Fatalf("GET after the grace ended: %d %s", res.status, res.body)
	}

	res = a.do("POST", "/v1/bindings", `{"a":"13800000003","b":"13900000004","ttl_seconds":600}`)
	live := res.view(t)
	if res = a.do("DELETE", "/v1/bindings/"+live.ID, ""); res.status != 200 || res.view(t).State != stateEnded {
		t.Fatalf("DELETE live: %d %s", res.status, res.body)
	}
	if res := a.do("GET", "/v1/bindings/"+live.ID, ""); res.status != 404 {
		t.Fatalf("a deleted binding is in grace: %d %s", res.status, res.body)
	}
}

// TestPoolSMSSettings: a pool's sms settings round-trip and bad ones are
// a 400 naming the field.
func TestPoolSMSSettings(t *testing.T) {
	a := newTestAPI(t)
	res := a.do("PUT", "/v1/pools/p", `{"sms":{"grace_seconds":3600,"retry_seconds":600,"keep_bodies":true}}`)
	if res.status != 200 {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	var doc PoolSettingsDoc
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SMS == nil || doc.SMS.GraceSeconds == nil || *doc.SMS.GraceSeconds != 3600 || doc.SMS.RetrySeconds != 600 || !doc.SMS.KeepBodies {
		t.Fatalf("sms settings read back as %s", res.body)
	}
	res = a.do("PUT", "/v1/pools/q", `{}`)
	if err := json.Unmarshal(res.body, &doc); err != nil || doc.SMS == nil || *doc.SMS.GraceSeconds != int64(store.DefaultSMSGrace/time.Second) || doc.SMS.RetrySeconds != 86400 {
		t.Fatalf("default sms settings: %s", res.body)
	}
	for body, field := range map[string]string{
		`{"sms":{"grace_seconds":-1}}`:          "sms.grace_seconds",
		`{"sms":{"retry_seconds":999999999}}`:   "sms.retry_seconds",
		`{"sms":{"grace_seconds":99999999999}}`: "sms.grace_seconds",
		`{"sms":{"keep":true}}`:                 "keep",
	} {
		res := a.do("PUT", "/v1/pools/p", body)
		if res.status != 400 || res.errorOf(t).Field != field {
			t.Errorf("%s: %d %s, want 400 naming %s", body, res.status, res.body, field)
		}
	}
}

// TestBindingSMSGrace: sms_grace_seconds round-trips through POST, GET and
// PATCH: absent is the pool's, 0 none, null in a patch the pool's again.
func TestBindingSMSGrace(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", "17000000001", "17000000002", "17000000003")
	grace := func(v bindingView) string {
		if v.SMSGraceSeconds == nil {
			return "pool"
		}
		return fmt.Sprint(*v.SMSGraceSeconds)
	}
	for body, want := range map[string]string{
		`{"a":"13800000001","b":"13900000001","ttl_seconds":60}`:                         "pool",
		`{"a":"13800000002","b":"13900000002","ttl_seconds":60,"sms_grace_seconds":0}`:   "0",
		`{"a":"13800000003","b":"13900000003","ttl_seconds":60,"sms_grace_seconds":600}`: "600",
	} {
		res := a.do("POST", "/v1/bindings", body)
		if res.status != 201 || grace(res.view(t)) != want {
			t.Errorf("%s: %d %s, want grace %s", body, res.status, res.body, want)
			continue
		}
		id := res.view(t).ID
		if got := grace(a.do("GET", "/v1/bindings/"+id, "").view(t)); got != want {
			t.Errorf("%s: GET shows grace %s", body, got)
		}
	}
	res := a.do("POST", "/v1/bindings", `{"a":"13800000004","b":"13900000004","ttl_seconds":60,"sms_grace_seconds":-5}`)
	if res.status != 400 || res.errorOf(t).Field != "sms_grace_seconds" {
		t.Errorf("negative grace: %d %s", res.status, res.body)
	}
	id := a.do("POST", "/v1/bindings", `{"a":"13800000005","b":"13900000005","ttl_seconds":60,"sms_grace_seconds":0}`).view(t).ID
	for patch, want := range map[string]string{`{"sms_grace_seconds":7200}`: "7200", `{"sms_grace_seconds":null}`: "pool"} {
		res := a.do("PATCH", "/v1/bindings/"+id, patch, "Content-Type", "application/merge-patch+json")
		if res.status != 200 || grace(res.view(t)) != want {
			t.Errorf("PATCH %s: %d %s, want grace %s", patch, res.status, res.body, want)
		}
	}
}

// TestBindingInbox: the SMS relayed to A, masked sender and text, for a
// binding live or in grace; 404 for anything else.
func TestBindingInbox(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", "17000000001")
	if res := a.do("PUT", "/v1/pools/default", `{"sms":{"keep_bodies":true}}`); res.status != 200 {
		t.Fatalf("PUT pool: %d %s", res.status, res.body)
	}
	b := a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000001","ttl_seconds":600}`).view(t)
	id, _ := store.NewMessageID(testNow)
	m := store.Message{ID: id, Pool: "default", BindingID: b.ID, X: b.X, Sender: b.B, Receiver: b.A, SenderRole: "B", ReceiverRole: "A",
		KeepBody: true, ContentType: "text/plain", Body: []byte("取件码 8842"), ReceivedAt: testNow, NextAt: testNow, GiveUpAt: testNow.Add(time.Hour)}
	if err := a.db.AcceptMessage(t.Context(), m, nil); err != nil {
		t.Fatal(err)
	}
	res := a.do("GET", "/v1/bindings/"+b.ID+"/messages", "")
	var got inbox
	if err := json.Unmarshal(res.body, &got); err != nil || res.status != 200 {
		t.Fatalf("GET messages: %d %s", res.status, res.body)
	}
	if !got.KeepBodies || len(got.Messages) != 1 {
		t.Fatalf("inbox %s", res.body)
	}
	if e := got.Messages[0]; e.MessageID != id || e.Sender != "86139****0001" || e.Text != "取件码 8842" || e.Status != "pending" || e.Bytes != len(m.Body) {
		t.Errorf("inbox entry %+v", e)
	}
	if strings.Contains(string(res.body), "13900000001") {
		t.Errorf("the inbox shows the sender's number: %s", res.body)
	}
	if res := a.do("GET", "/v1/bindings/b-nope/messages", ""); res.status != 404 {
		t.Errorf("unknown binding: %d", res.status)
	}
}

// TestBindingWebhookURL: a binding's webhook_url is taken only where the
// binary's check allows it for the pool, shown, patched and removed.
func TestBindingWebhookURL(t *testing.T) {
	check := func(pool, url string) error {
		if pool == "default" && strings.HasPrefix(url, "https://platform.example/") {
			return nil
		}
		return fmt.Errorf("not an allowed URL")
	}
	a := newTestAPI(t, WithWebhookCheck(check))
	a.addPool("default", "17000000001")
	res := a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000001","ttl_seconds":60,"webhook_url":"https://platform.example/o/1"}`)
	if res.status != 201 || res.view(t).WebhookURL != "https://platform.example/o/1" {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	id := res.view(t).ID
	if got, _ := a.db.GetBinding(t.Context(), id); got.Policy.Webhook != "https://platform.example/o/1" {
		t.Fatalf("stored %+v", got.Policy)
	}
	res = a.do("POST", "/v1/bindings", `{"a":"13800000002","b":"13900000002","ttl_seconds":60,"webhook_url":"https://evil.example/"}`)
	if res.status != 400 || res.errorOf(t).Field != "webhook_url" {
		t.Errorf("a URL the pool does not take: %d %s", res.status, res.body)
	}
	if res := a.do("PATCH", "/v1/bindings/"+id, `{"webhook_url":"https://evil.example/"}`); res.status != 400 || res.errorOf(t).Field != "webhook_url" {
		t.Errorf("PATCH to a URL the pool does not take: %d %s", res.status, res.body)
	}
	if res := a.do("PATCH", "/v1/bindings/"+id, `{"webhook_url":null}`); res.status != 200 || res.view(t).WebhookURL != "" {
		t.Errorf("PATCH null: %d %s", res.status, res.body)
	}
	plain := newTestAPI(t)
	plain.addPool("default", "17000000001")
	if res := plain.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000001","ttl_seconds":60,"webhook_url":"https://platform.example/"}`); res.status != 400 {
		t.Errorf("an engine without a check took a webhook_url: %d", res.status)
	}
}
