package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xbridge/xbridge/api"
	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/store"
)

// adminAPI serves the real API over a real store on a loopback socket, for
// the admin commands to talk to.
func adminAPI(t *testing.T, opts ...api.Option) string {
	t.Helper()
	return testkit.HTTPServer(t, api.New(scratchStore(t), opts...)).URL
}

// scratchStore is a real store in t.TempDir, closed when the test ends.
func scratchStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "xbridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// admin runs one admin command line as main would.
func admin(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	return code, out.String(), errOut.String()
}

func TestAdminCommands(t *testing.T) {
	url := adminAPI(t)
	env := map[string]string{"XBRIDGE_API": url}

	code, out, errOut := admin(t, env, "pool", "add", "default", "+8617000000001", "+8617000000002")
	if code != 0 || !strings.Contains(out, "added") || !strings.Contains(out, "2") {
		t.Fatalf("pool add: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = admin(t, env, "pool", "show", "default")
	if code != 0 || !strings.Contains(out, "size") {
		t.Fatalf("pool show: exit %d\n%s", code, out)
	}

	code, out, errOut = admin(t, env, "bind", "axb", "--a", "+8613800000001", "--b", "+8613900000002", "--ttl", "3600", "--json")
	if code != 0 {
		t.Fatalf("bind axb: exit %d\n%s%s", code, out, errOut)
	}
	var b store.Binding
	if err := json.Unmarshal([]byte(out), &b); err != nil || b.ID == "" {
		t.Fatalf("bind axb --json printed %q: %v", out, err)
	}

	// Flags may follow the positional ID; the table shows the binding.
	code, out, _ = admin(t, env, "binding", "show", b.ID)
	if code != 0 || !strings.Contains(out, b.ID) || !strings.Contains(out, "8613900000002") {
		t.Fatalf("binding show: exit %d\n%s", code, out)
	}
	code, out, _ = admin(t, env, "binding", "list", "--party", "+8613800000001")
	if code != 0 || !strings.Contains(out, "ID") || !strings.Contains(out, b.ID) {
		t.Fatalf("binding list: exit %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "bindings (1)") {
		t.Errorf("binding list is not a titled table of one row:\n%s", out)
	}

	// A patch sends only what was named, and --unset removes a field.
	code, out, errOut = admin(t, env, "binding", "patch", b.ID, "--user-data", "order 42", "--direction", "a_to_b", "--json")
	if code != 0 || !strings.Contains(out, `"user_data":"order 42"`) || !strings.Contains(out, `"direction":"a_to_b"`) {
		t.Fatalf("binding patch: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = admin(t, env, "binding", "patch", b.ID, "--unset", "user_data", "--json")
	if code != 0 || strings.Contains(out, "order 42") || !strings.Contains(out, `"direction":"a_to_b"`) {
		t.Fatalf("binding patch --unset: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = admin(t, env, "binding", "patch", b.ID, "--direction", "sideways")
	if code != 1 || !strings.Contains(errOut, "400 invalid_field (direction)") {
		t.Errorf("bad patch: exit %d, stderr %q", code, errOut)
	}

	code, _, errOut = admin(t, env, "binding", "delete", b.ID)
	if code != 0 {
		t.Fatalf("binding delete: exit %d: %s", code, errOut)
	}
	// An AXE binding prints its extension and the forms to dial.
	code, out, errOut = admin(t, env, "bind", "axe", "--a", "+8613800000005", "--ttl", "3600")
	if code != 0 || !strings.Contains(out, "extension") || !strings.Contains(out, "dial.print") {
		t.Errorf("bind axe: exit %d\n%s%s", code, out, errOut)
	}
	// The API's refusal reaches the operator with its status, code and field.
	code, _, errOut = admin(t, env, "binding", "show", b.ID)
	if code != 1 || !strings.Contains(errOut, "404 not_found") {
		t.Errorf("show of a deleted binding: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = admin(t, env, "bind", "axb", "--a", "not-a-number", "--b", "+8613900000002", "--ttl", "60")
	if code != 1 || !strings.Contains(errOut, "400 invalid_field (a)") {
		t.Errorf("bad party: exit %d, stderr %q", code, errOut)
	}
}

func TestAdminUsage(t *testing.T) {
	env := map[string]string{"XBRIDGE_API": "127.0.0.1:1"}
	for _, args := range [][]string{
		{"pool"},
		{"pool", "add", "default"},
		{"pool", "frobnicate"},
		{"bind", "axz"},
		{"bind", "axb", "--ttl", "soon"},
		{"bind", "axb", "--record", "maybe"},
		{"binding", "show"},
		{"binding", "patch", "id1"},
		{"binding", "list", "--limit"},
		{"calls", "extra"},
		{"binding", "show", "x", "--api", "ftp://host"},
	} {
		if code, _, errOut := admin(t, env, args...); code != 2 {
			t.Errorf("%q: exit %d (stderr %q), want 2", args, code, errOut)
		}
	}
	// Nothing listens on port 1: a run-time failure, not a usage error.
	if code, _, errOut := admin(t, env, "calls"); code != 1 || errOut == "" {
		t.Errorf("calls with no engine: exit %d, stderr %q", code, errOut)
	}
}

func TestAdminToken(t *testing.T) {
	url := adminAPI(t, api.WithToken("s3cret"))
	if code, _, errOut := admin(t, map[string]string{"XBRIDGE_API": url}, "pool", "show", "default"); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("without the token: exit %d, stderr %q", code, errOut)
	}
	env := map[string]string{"XBRIDGE_API": url, "XBRIDGE_API_TOKEN": "s3cret"}
	if code, _, errOut := admin(t, env, "pool", "show", "default"); code != 1 || !strings.Contains(errOut, "404 not_found") {
		t.Errorf("with the token: exit %d, stderr %q (want the pool's 404)", code, errOut)
	}
	if code, _, errOut := admin(t, map[string]string{"XBRIDGE_API": url}, "pool", "show", "default", "--api-token", "s3cret"); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("--api-token: exit %d, stderr %q", code, errOut)
	}
}

func TestAdminCalls(t *testing.T) {
	started := time.Now().Add(-time.Minute)
	url := adminAPI(t, api.WithCalls(func() []api.Call {
		return []api.Call{{ACallID: "a-1", BCallID: "b-1", BindingID: "bd-1", X: "8617000000001",
			Caller: "8613800000001", Callee: "8613900000002", Started: started, Answered: started.Add(time.Second)}}
	}))
	code, out, errOut := admin(t, map[string]string{"XBRIDGE_API": url}, "calls")
	if code != 0 {
		t.Fatalf("calls: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"A_CALL_ID", "a-1", "86138****0001", "up"} {
		if !strings.Contains(out, want) {
			t.Errorf("calls table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "8613800000001") {
		t.Errorf("calls table shows a party's number:\n%s", out)
	}
}

func TestWriteTables(t *testing.T) {
	v, err := decodeOrdered([]byte(`{"id":"b1","policy":{"direction":"both"},"dial":["1,2","1转2"],"n":3,"tab":"a\tb"}`))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeTables(&buf, v); err != nil {
		t.Fatal(err)
	}
	want := "id                b1\npolicy.direction  both\ndial              1,2,1转2\nn                 3\ntab               a\\tb\n"
	if buf.String() != want {
		t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
	}
	if _, err := decodeOrdered([]byte(`{} {}`)); err == nil {
		t.Error("two JSON values decoded as one")
	}
}

func TestAdminRecordsEventsHangUp(t *testing.T) {
	db := scratchStore(t)
	at := time.Now().Add(-time.Minute)
	id, _ := store.NewRecordID(at)
	rec := store.CallRecord{ID: id, BindingID: "bd-1", X: "8617000000001", Caller: "8613800000001", ACallID: "a-1",
		InvitedAt: at, ReleasedAt: at.Add(time.Second), ReleasedBy: "caller", Status: 200, Q850: 16, Outcome: store.OutcomeAnswered}
	if err := db.QueueCall(context.Background(), store.CallChange{Record: &rec}); err != nil {
		t.Fatal(err)
	}
	var hungUp []string
	url := testkit.HTTPServer(t, api.New(db, api.WithHangUp(func(id, reason string) bool {
		hungUp = append(hungUp, id+"|"+reason)
		return id == "a-1"
	}))).URL
	env := map[string]string{"XBRIDGE_API": url}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, out, errOut := admin(t, env, "records", "--binding", "bd-1")
		if code != 0 {
			t.Fatalf("records: exit %d: %s", code, errOut)
		}
		if strings.Contains(out, id) {
			if !strings.Contains(out, "answered") {
				t.Errorf("records table lacks the outcome:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records never showed %s:\n%s", id, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _, errOut := admin(t, env, "records", "--since", "yesterday"); code != 1 || !strings.Contains(errOut, "since") {
		t.Errorf("records with a bad time: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := admin(t, env, "events", "dead"); code != 0 {
		t.Errorf("events dead: exit %d: %s", code, errOut)
	}
	if code, _, errOut := admin(t, env, "events", "retry", "e-nope"); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("events retry of nothing: exit %d, stderr %q", code, errOut)
	}
	if code, out, errOut := admin(t, env, "calls", "hangup", "a-1", "--reason", "fraud check"); code != 0 || !strings.Contains(out, "a-1") {
		t.Errorf("calls hangup: exit %d, out %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := admin(t, env, "calls", "hangup", "nope"); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("calls hangup of nothing: exit %d, stderr %q", code, errOut)
	}
	if want := "a-1|fraud check,nope|ended by the operator"; strings.Join(hungUp, ",") != want {
		t.Errorf("hang-ups %q, want %q", hungUp, want)
	}
}

// TestAdminTrackAndLookup: tracking numbers from a shell, the lookup a
// locker system makes, and a binding's SMS inbox.
func TestAdminTrackAndLookup(t *testing.T) {
	url := adminAPI(t)
	env := map[string]string{"XBRIDGE_API": url}
	if code, out, errOut := admin(t, env, "pool", "add", "default", "+8617000000001"); code != 0 {
		t.Fatalf("pool add: %d %s%s", code, out, errOut)
	}
	code, out, errOut := admin(t, env, "bind", "axe", "--a", "+8613800008000", "--ttl", "3600", "--json")
	var b store.Binding
	if code != 0 || json.Unmarshal([]byte(out), &b) != nil {
		t.Fatalf("bind axe: %d %s%s", code, out, errOut)
	}
	code, out, errOut = admin(t, env, "binding", "track", b.ID, "SF1234567890", "YT-88", "--json")
	if code != 0 || !strings.Contains(out, `"track_nos":["SF1234567890","YT-88"]`) {
		t.Fatalf("binding track: %d %s%s", code, out, errOut)
	}
	code, out, errOut = admin(t, env, "lookup", "YT-88", "--json")
	if code != 0 || !strings.Contains(out, `"a":"138****8000"`) || !strings.Contains(out, b.ID) {
		t.Fatalf("lookup: %d %s%s", code, out, errOut)
	}
	code, out, errOut = admin(t, env, "binding", "messages", b.ID, "--json")
	if code != 0 || !strings.Contains(out, `"messages":[]`) {
		t.Fatalf("binding messages: %d %s%s", code, out, errOut)
	}
	if code, _, errOut := admin(t, env, "lookup"); code != 2 || !strings.Contains(errOut, "TRACK-NO") {
		t.Errorf("lookup without a number: %d %q", code, errOut)
	}
}
