package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/xbridge/xbridge/store"
)

func poolInfo(t *testing.T, a *testAPI, pool string) store.PoolInfo {
	t.Helper()
	info, err := a.db.Pool(t.Context(), pool)
	if err != nil {
		t.Fatalf("pool %s: %v", pool, err)
	}
	return info
}

func TestPools(t *testing.T) {
	a := newTestAPI(t)

	r := a.do("POST", "/v1/pools/p-1/numbers", `{"numbers":["8617000000001","+86 170 0000 0002","tel:017000000003","8617000000001"]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got addNumbersResponse
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got != (addNumbersResponse{Pool: "p-1", Added: 3, Size: 3}) {
		t.Fatalf("response %+v", got)
	}
	r = a.do("POST", "/v1/pools/p-1/numbers", `{"numbers":["017000000003","8617000000004"]}`)
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if got != (addNumbersResponse{Pool: "p-1", Added: 1, Size: 4}) {
		t.Fatalf("second add %+v", got)
	}
	for _, n := range []string{"8617000000001", "8617000000002", "8617000000003", "8617000000004"} {
		if p, ok, err := a.db.InPool(t.Context(), n); err != nil || !ok || p != "p-1" {
			t.Errorf("InPool(%s) = %q %v %v", n, p, ok, err)
		}
	}

	if _, _, err := a.db.CreateBinding(t.Context(), store.NewBinding{Pool: "p-1", X: "8617000000001", A: pa, B: pb, ExpiresAt: testNow.Add(3600e9)}); err != nil {
		t.Fatal(err)
	}
	r = a.do("GET", "/v1/pools/p-1", "")
	var info store.PoolInfo
	if err := json.Unmarshal(r.body, &info); err != nil || r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if info != (store.PoolInfo{Name: "p-1", Size: 4, InUse: 1, Bindings: 1, ByModel: store.ModelCounts{AXB: 1}}) {
		t.Fatalf("pool %+v", info)
	}
	if !strings.Contains(string(r.body), `"in_use":1`) {
		t.Errorf("body %s", r.body)
	}

	for _, c := range []struct {
		path   string
		status int
		code   string
		field  string
	}{
		{"/v1/pools/nope", 404, "not_found", ""},
		{"/v1/pools/bad.name", 400, "invalid_field", "pool"},
		{"/v1/pools/" + strings.Repeat("p", 65), 400, "invalid_field", "pool"},
	} {
		r := a.do("GET", c.path, "")
		if r.status != c.status {
			t.Errorf("GET %s: status %d: %s", c.path, r.status, r.body)
			continue
		}
		if e := r.errorOf(t); e.Code != c.code || e.Field != c.field {
			t.Errorf("GET %s: error %+v", c.path, e)
		}
	}
}

func TestAddNumbersInvalid(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("p1", "8617000000001")
	a.addPool("p2", "8617000000009")
	tests := []struct {
		name, pool, body string
		status           int
		code, field      string
	}{
		{"bad second number", "p1", `{"numbers":["8617000000002","17x"]}`, 400, "invalid_field", "numbers[1]"},
		{"empty number", "p1", `{"numbers":["8617000000002",""]}`, 400, "invalid_field", "numbers[1]"},
		{"too short", "p1", `{"numbers":["12345"]}`, 400, "invalid_field", "numbers[0]"},
		// Well-formed, but no range libphonenumber knows: refused by field.
		{"not a valid number", "p1", `{"numbers":["8617000000002","12000000000"]}`, 400, "invalid_field", "numbers[1]"},
		{"foreign digits without plus", "p1", `{"numbers":["447911123456"]}`, 400, "invalid_field", "numbers[0]"},
		{"no numbers", "p1", `{"numbers":[]}`, 400, "invalid_field", "numbers"},
		{"numbers missing", "p1", `{}`, 400, "invalid_field", "numbers"},
		{"numbers not array", "p1", `{"numbers":"8617000000002"}`, 400, "invalid_field", "numbers"},
		{"number not string", "p1", `{"numbers":[8617000000002]}`, 400, "invalid_field", "numbers"},
		{"unknown field", "p1", `{"numbers":["8617000000002"],"size":3}`, 400, "invalid_field", "size"},
		{"trailing", "p1", `{"numbers":["8617000000002"]}]`, 400, "invalid_json", ""},
		{"bad pool name", "p%21", `{"numbers":["8617000000002"]}`, 400, "invalid_field", "pool"},
		{"in another pool", "p1", `{"numbers":["8617000000002","+8617000000009"]}`, 409, "conflict", "numbers[1]"},
		{"new pool with taken number", "p3", `{"numbers":["8617000000001"]}`, 409, "conflict", "numbers[0]"},
		{"too large", "p1", `{"numbers":["` + strings.Repeat("1", maxBody) + `"]}`, 413, "invalid_json", ""},
	}
	p1, p2 := poolInfo(t, a, "p1"), poolInfo(t, a, "p2")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do("POST", "/v1/pools/"+tt.pool+"/numbers", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if e := r.errorOf(t); e.Code != tt.code || e.Field != tt.field {
				t.Fatalf("error %+v, want %s %q", e, tt.code, tt.field)
			}
			if got := poolInfo(t, a, "p1"); got != p1 {
				t.Fatalf("p1 changed: %+v -> %+v", p1, got)
			}
			if got := poolInfo(t, a, "p2"); got != p2 {
				t.Fatalf("p2 changed: %+v -> %+v", p2, got)
			}
			if _, err := a.db.Pool(t.Context(), "p3"); err == nil {
				t.Fatal("pool p3 was created")
			}
			if _, ok, _ := a.db.InPool(t.Context(), "8617000000002"); ok {
				t.Fatal("8617000000002 was added")
			}
		})
	}
	if r := a.do("POST", "/v1/pools/p1/numbers", `{"numbers":["8617000000002"]}`); r.status != http.StatusOK {
		t.Fatalf("good request after bad ones: %d %s", r.status, r.body)
	}
}

// TestPoolQuarantine: GET of a pool lists the pairs in their cool-down, a
// page at a time; a cursor the API did not give is a 400 naming the field.
func TestPoolQuarantine(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", "8617000000001")
	p := a.post(`{"a":"+8613800000001","b":"+8613900000002","ttl_seconds":3600}`)
	if p.status != http.StatusCreated {
		t.Fatalf("create: %d", p.status)
	}
	if res := a.do(http.MethodDelete, "/v1/bindings/"+p.id, ""); res.status != http.StatusOK {
		t.Fatalf("delete: %d", res.status)
	}
	var pool struct {
		Quarantine     []map[string]string `json:"quarantine"`
		QuarantineNext string              `json:"quarantine_next"`
	}
	res := a.do(http.MethodGet, "/v1/pools/default?quarantine_limit=1", "")
	if err := json.Unmarshal(res.body, &pool); err != nil || res.status != http.StatusOK {
		t.Fatalf("get pool: %d %s %v", res.status, res.body, err)
	}
	if len(pool.Quarantine) != 1 || pool.QuarantineNext == "" || pool.Quarantine[0]["x"] != "8617000000001" {
		t.Fatalf("first page: %s", res.body)
	}
	first := pool.Quarantine[0]["party"]
	res = a.do(http.MethodGet, "/v1/pools/default?quarantine_limit=1&quarantine_after="+url.QueryEscape(pool.QuarantineNext), "")
	pool.Quarantine, pool.QuarantineNext = nil, ""
	if err := json.Unmarshal(res.body, &pool); err != nil || len(pool.Quarantine) != 1 || pool.QuarantineNext != "" {
		t.Fatalf("second page: %s %v", res.body, err)
	}
	if second := pool.Quarantine[0]["party"]; second == first || second == "" {
		t.Errorf("second page repeats %q or names no party: %s", first, res.body)
	}
	res = a.do(http.MethodGet, "/v1/pools/default?quarantine_after=nonsense", "")
	if res.status != http.StatusBadRequest || res.errorOf(t).Field != "quarantine_after" {
		t.Errorf("bad cursor: %d %s", res.status, res.body)
	}
}
