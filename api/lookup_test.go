package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/store"
)

// TestWaybillLookup: tracking numbers at create and added later; a lookup
// token sees X, the extension and A masked, a lookup:full token A whole,
// and nothing else of the API; lookups are rate-limited per token and
// every one is an event.
func TestWaybillLookup(t *testing.T) {
	a := newTestAPI(t,
		WithTokens(
			Token{Name: "ops", Secret: "admin-secret", Scopes: []string{ScopeAdmin}},
			Token{Name: "locker-17", Secret: "locker-secret", Scopes: []string{ScopeLookup}, LookupsPerMinute: 3},
			Token{Name: "support", Secret: "support-secret", Scopes: []string{ScopeLookupFull}},
		),
		WithEvents(nil))
	admin := []string{"Authorization", "Bearer admin-secret"}
	locker := []string{"Authorization", "Bearer locker-secret"}
	support := []string{"Authorization", "Bearer support-secret"}
	a.addPool("default", "17000000001", "17000000002")

	res := a.do("POST", "/v1/bindings", `{"model":"axe","a":"13800008000","ttl_seconds":600,"track_nos":["SF1234567890"]}`, admin...)
	if res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	b := res.view(t)
	if len(b.TrackNos) != 1 || b.TrackNos[0] != "SF1234567890" {
		t.Fatalf("created with track_nos %v", b.TrackNos)
	}
	if res := a.do("POST", "/v1/bindings", `{"a":"13800000002","b":"13900000002","ttl_seconds":600,"track_nos":["SF1234567890"]}`, admin...); res.status != 409 || res.errorOf(t).Code != "track_no_taken" {
		t.Fatalf("a taken tracking number: %d %s", res.status, res.body)
	}
	res = a.do("POST", "/v1/bindings/"+b.ID+"/track_nos", `{"track_nos":["YT-88"]}`, admin...)
	var added trackNosAnswer
	if err := json.Unmarshal(res.body, &added); err != nil || res.status != 200 || len(added.TrackNos) != 2 {
		t.Fatalf("add: %d %s", res.status, res.body)
	}
	if res := a.do("POST", "/v1/bindings/"+b.ID+"/track_nos", `{"track_nos":["no spaces"]}`, admin...); res.status != 400 || res.errorOf(t).Field != "track_nos" {
		t.Fatalf("a bad tracking number: %d %s", res.status, res.body)
	}
	if got := a.do("GET", "/v1/bindings/"+b.ID, "", admin...).view(t); len(got.TrackNos) != 2 {
		t.Fatalf("GET shows track_nos %v", got.TrackNos)
	}

	var ans lookupAnswer
	res = a.do("GET", "/v1/lookup?track_no=YT-88", "", locker...)
	if err := json.Unmarshal(res.body, &ans); err != nil || res.status != 200 {
		t.Fatalf("lookup: %d %s", res.status, res.body)
	}
	if ans.A != "138****8000" || !ans.AMasked || ans.X != b.X || ans.Extension != b.Extension || ans.Dial == nil || ans.State != stateLive {
		t.Errorf("lookup answer %+v", ans)
	}
	res = a.do("GET", "/v1/lookup?track_no=YT-88", "", support...)
	if err := json.Unmarshal(res.body, &ans); err != nil || ans.A != b.A || ans.AMasked {
		t.Errorf("lookup:full answer %s", res.body)
	}
	for _, path := range []string{"/v1/bindings/" + b.ID, "/v1/records", "/v1/bindings/" + b.ID + "/messages"} {
		if res := a.do("GET", path, "", locker...); res.status != http.StatusForbidden {
			t.Errorf("a lookup token on %s: %d", path, res.status)
		}
	}
	if res := a.do("GET", "/v1/lookup?track_no=NOPE1", "", locker...); res.status != 404 {
		t.Errorf("unknown tracking number: %d", res.status)
	}
	if res := a.do("GET", "/v1/lookup", "", admin...); res.status != 400 || res.errorOf(t).Field != "track_no" {
		t.Errorf("no track_no: %d %s", res.status, res.body)
	}
	// The locker's three a minute are used up by the next two.
	if res := a.do("GET", "/v1/lookup?track_no=SF1234567890", "", locker...); res.status != 200 {
		t.Errorf("third lookup: %d %s", res.status, res.body)
	}
	res = a.do("GET", "/v1/lookup?track_no=YT-88", "", locker...)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("fourth lookup in a minute: %d %s (Retry-After %q)", res.status, res.body, res.header.Get("Retry-After"))
	}
	if res := a.do("GET", "/v1/lookup?track_no=YT-88", "", "Authorization", "Bearer wrong"); res.status != 401 {
		t.Errorf("a wrong token: %d", res.status)
	}

	// Every access is an event: found (3), not found, rate limited, and
	// the forbidden ones on other paths are not lookups.
	want := map[string]int{"locker-17 found": 2, "support found": 1, "locker-17 not_found": 1, "locker-17 rate_limited": 1}
	var entries []store.OutboxEntry
	for deadline := time.Now().Add(5 * time.Second); len(entries) < 5 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if entries, err = a.db.OutboxAfter(t.Context(), 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	count := map[string]int{}
	for _, e := range entries {
		var p events.LookupPayload
		if err := json.Unmarshal(e.Body, &p); err != nil || p.Type != events.TypeLookup {
			t.Fatalf("event %s: %s", e.Type, e.Body)
		}
		count[p.Lookup.Token+" "+p.Lookup.Result]++
		if p.Lookup.Result == "found" && (p.Lookup.BindingID != b.ID || p.Lookup.Full != (p.Lookup.Token == "support")) {
			t.Errorf("found event %+v", p.Lookup)
		}
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d %q events, want %d (all: %v)", count[k], k, n, count)
		}
	}
}
