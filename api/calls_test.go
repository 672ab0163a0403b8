package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestListCalls(t *testing.T) {
	started := testNow.Add(-90 * time.Second)
	calls := []Call{
		{ACallID: "a1", BCallID: "b1", BindingID: "bd1", X: "8617000000001", Caller: "8613800000001", Callee: "8613900000002",
			Started: started, Answered: started.Add(30 * time.Second)},
		{ACallID: "a2", BCallID: "b2", BindingID: "bd2", X: "8617000000001", Caller: "110", Callee: "8613900000003", Started: started},
	}
	a := newTestAPI(t, WithCalls(func() []Call { return calls }))
	res := a.do(http.MethodGet, "/v1/calls", "")
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var got callList
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	want := []callView{
		{ACallID: "a1", BCallID: "b1", BindingID: "bd1", X: "8617000000001", Caller: "86138****0001", Callee: "86139****0002",
			State: "up", StartedAt: "2026-03-01T11:58:30Z", AnsweredAt: "2026-03-01T11:59:00Z", DurationSeconds: 60},
		{ACallID: "a2", BCallID: "b2", BindingID: "bd2", X: "8617000000001", Caller: "****10", Callee: "86139****0003",
			State: "setup", StartedAt: "2026-03-01T11:58:30Z"},
	}
	if len(got.Calls) != len(want) {
		t.Fatalf("%d calls, want %d: %s", len(got.Calls), len(want), res.body)
	}
	for i := range want {
		if got.Calls[i] != want[i] {
			t.Errorf("call %d:\n got %+v\nwant %+v", i, got.Calls[i], want[i])
		}
	}
	for _, n := range []string{"8613800000001", "8613900000002"} {
		if contains(res.body, n) {
			t.Errorf("a party's number %s is in the list unmasked", n)
		}
	}

	// Without an engine there is no call table to list.
	if res := newTestAPI(t).do(http.MethodGet, "/v1/calls", ""); res.status != http.StatusNotFound {
		t.Errorf("no engine: status %d, want 404", res.status)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"8613800000001": "86138****0001",
		"13800000001":   "138****0001",
		"123456789":     "1****6789",
		"12345678":      "****78",
		"110":           "****10",
		"1":             "****",
		"":              "****",
	} {
		if got := maskNumber(in); got != want {
			t.Errorf("maskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHangUpCall(t *testing.T) {
	var got []string
	a := newTestAPI(t, WithHangUp(func(id, reason string) bool {
		got = append(got, id+"|"+reason)
		return id == "c1@carrier"
	}))
	if res := a.do(http.MethodDelete, "/v1/calls/c1@carrier", ""); res.status != http.StatusAccepted {
		t.Errorf("DELETE: %d %s", res.status, res.body)
	}
	if res := a.do(http.MethodDelete, "/v1/calls/c1@carrier?reason=fraud+check", ""); res.status != http.StatusAccepted {
		t.Errorf("DELETE with reason: %d %s", res.status, res.body)
	}
	if res := a.do(http.MethodDelete, "/v1/calls/nope", ""); res.status != http.StatusNotFound {
		t.Errorf("unknown call: %d", res.status)
	}
	for _, q := range []string{"reason=", "reason=%22quoted%22", "reason=a%0Ab", "color=red", "reason=" + strings.Repeat("x", 65)} {
		if res := a.do(http.MethodDelete, "/v1/calls/c1@carrier?"+q, ""); res.status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, res.status)
		}
	}
	want := []string{"c1@carrier|ended by the operator", "c1@carrier|fraud check", "nope|ended by the operator"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("hang-ups %q, want %q", got, want)
	}
}
