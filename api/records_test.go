package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/store"
)

// queueRecords writes n call records a minute apart from testNow, bound to
// b0/b1 and x 8617000000000/1 alternately, and waits until they are
// committed.
func (a *testAPI) queueRecords(n int) []store.CallRecord {
	a.t.Helper()
	var out []store.CallRecord
	for i := range n {
		at := testNow.Add(time.Duration(i) * time.Minute)
		id, err := store.NewRecordID(at)
		if err != nil {
			a.t.Fatal(err)
		}
		r := store.CallRecord{ID: id, BindingID: fmt.Sprint("b", i%2), X: fmt.Sprint("861700000000", i%2), OrderID: "o1",
			Caller: "8613800000001", Callee: "8613900000002", ACallID: "a" + id, InvitedAt: at, ReleasedAt: at.Add(time.Second),
			ReleasedBy: "caller", Status: 200, Q850: 16, Outcome: store.OutcomeAnswered}
		if err := a.db.QueueCall(context.Background(), store.CallChange{Record: &r}); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		page, _, err := a.db.Records(context.Background(), store.RecordFilter{Limit: store.MaxRecordPage})
		if err == nil && len(page) >= n {
			return out
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("records not committed: %d of %d", len(page), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRecordsPaged(t *testing.T) {
	a := newTestAPI(t)
	recs := a.queueRecords(7)
	var got []events.RecordView
	path := "/v1/records?binding=b1&limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		res := a.do(http.MethodGet, path, "")
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		var list recordList
		if err := json.Unmarshal(res.body, &list); err != nil {
			t.Fatal(err)
		}
		got = append(got, list.Records...)
		if list.Next == "" {
			break
		}
		path = "/v1/records?binding=b1&limit=2&cursor=" + url.QueryEscape(list.Next)
	}
	if len(got) != 3 || got[0].RecordID != recs[1].ID || got[2].RecordID != recs[5].ID {
		t.Fatalf("binding b1's records: %+v", got)
	}
	since := url.QueryEscape(testNow.Add(2 * time.Minute).Format(time.RFC3339))
	until := url.QueryEscape(testNow.Add(5 * time.Minute).Format(time.RFC3339))
	res := a.do(http.MethodGet, "/v1/records?since="+since+"&until="+until, "")
	var list recordList
	_ = json.Unmarshal(res.body, &list)
	if res.status != http.StatusOK || len(list.Records) != 3 || list.Records[0].RecordID != recs[2].ID {
		t.Errorf("since/until: %d %s", res.status, res.body)
	}
	res = a.do(http.MethodGet, "/v1/records/"+recs[3].ID, "")
	var one map[string]any
	_ = json.Unmarshal(res.body, &one)
	if res.status != http.StatusOK || one["record_id"] != recs[3].ID || one["q850"] != float64(16) || one["invited_at"] != "2026-03-01T12:03:00.000Z" {
		t.Errorf("GET one record: %d %s", res.status, res.body)
	}
	if res := a.do(http.MethodGet, "/v1/records/rnope", ""); res.status != http.StatusNotFound {
		t.Errorf("unknown record: %d", res.status)
	}
}

func TestRecordsBadQueries(t *testing.T) {
	a := newTestAPI(t)
	for query, field := range map[string]string{
		"limit=0":                    "limit",
		"limit=1001":                 "limit",
		"since=yesterday":            "since",
		"cursor=!!":                  "cursor",
		"binding=b1&x=8617000000001": "binding",
		"color=red":                  "color",
		"since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z": "until",
		"x=12": "x",
	} {
		res := a.do(http.MethodGet, "/v1/records?"+query, "")
		if res.status != http.StatusBadRequest || res.errorOf(t).Field != field {
			t.Errorf("%s: %d %s, want 400 naming %s", query, res.status, res.body, field)
		}
	}
}

func TestDeadEventsListAndRetry(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	for i := range 3 {
		id, _ := store.NewEventID(testNow.Add(time.Duration(i) * time.Second))
		ev := store.Event{ID: id, Type: "call.released", Stream: "r", Pool: "p1", At: testNow, Body: []byte(`{"id":"` + id + `"}`)}
		if err := a.db.QueueCall(ctx, store.CallChange{Events: []store.Event{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	var entries []store.OutboxEntry
	deadline := time.Now().Add(5 * time.Second)
	for len(entries) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		entries, _ = a.db.OutboxAfter(ctx, 0, 10)
	}
	for _, e := range entries {
		if err := a.db.OutboxDead(ctx, e.Seq, 5, "receiver answered 500"); err != nil {
			t.Fatal(err)
		}
	}
	res := a.do(http.MethodGet, "/v1/events/dead?limit=2", "")
	var list deadList
	if err := json.Unmarshal(res.body, &list); err != nil || res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	if len(list.Events) != 2 || list.Next == "" || list.Events[0].Attempts != 5 || list.Events[0].LastError != "receiver answered 500" {
		t.Fatalf("first page: %s", res.body)
	}
	if string(list.Events[0].Event) != `{"id":"`+list.Events[0].ID+`"}` {
		t.Errorf("dead event body %s", list.Events[0].Event)
	}
	res = a.do(http.MethodGet, "/v1/events/dead?limit=2&cursor="+url.QueryEscape(list.Next), "")
	var rest deadList
	_ = json.Unmarshal(res.body, &rest)
	if len(rest.Events) != 1 || rest.Next != "" {
		t.Fatalf("second page: %s", res.body)
	}
	res = a.do(http.MethodPost, "/v1/events/dead/"+rest.Events[0].ID+"/retry", "")
	if res.status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", res.status, res.body)
	}
	if back, _ := a.db.OutboxAfter(ctx, 0, 10); len(back) != 1 || back[0].ID != rest.Events[0].ID {
		t.Errorf("outbox after retry: %+v", back)
	}
	if res := a.do(http.MethodPost, "/v1/events/dead/"+rest.Events[0].ID+"/retry", ""); res.status != http.StatusNotFound {
		t.Errorf("second retry: %d", res.status)
	}
}
