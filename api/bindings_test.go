package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

const (
	x1 = "8617000000001"
	x2 = "8617000000002"
	pa = "8613800000001"
	pb = "8613900000002"
	pc = "8613700000003"
)

func TestCreateBinding(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1, x2)

	r := a.do("POST", "/v1/bindings", `{"a":"+86 138-0000-0001","b":"13900000002","ttl_seconds":3600,"order_id":"o-1"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	b := r.binding(t)
	want := store.Binding{ID: b.ID, Model: store.ModelAXB, Pool: "default", X: b.X, A: pa, B: pb, OrderID: "o-1",
		CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	if b != want {
		t.Fatalf("binding\n got %+v\nwant %+v", b, want)
	}
	if b.X != x1 && b.X != x2 {
		t.Fatalf("x %q not from the pool", b.X)
	}
	if loc := r.header.Get("Location"); loc != "/v1/bindings/"+b.ID {
		t.Fatalf("Location %q", loc)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if got := a.do("GET", r.header.Get("Location"), "").binding(t); got != b {
		t.Fatalf("GET Location = %+v, want %+v", got, b)
	}

	// expires_at, explicit x (the number b did not get: X is drawn at
	// random), a pool given by name.
	other := x2
	if b.X == x2 {
		other = x1
	}
	r = a.do("POST", "/v1/bindings", fmt.Sprintf(`{"a":"tel:+86-137-0000-0003","b":"%s","x":"+%s","pool":"default","expires_at":"2026-03-02T20:00:00+08:00"}`, pb, other))
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	b2 := r.binding(t)
	if b2.X != other || b2.A != pc || !b2.ExpiresAt.Equal(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)) || b2.OrderID != "" {
		t.Fatalf("binding %+v", b2)
	}

	// Both are live: the store routes each pair.
	for _, c := range []struct{ x, party, id string }{{b.X, pa, b.ID}, {b.X, pb, b.ID}, {other, pc, b2.ID}} {
		got, err := a.db.Lookup(t.Context(), c.x, c.party)
		if err != nil || got.ID != c.id {
			t.Errorf("Lookup(%s, %s) = %s, %v; want %s", c.x, c.party, got.ID, err, c.id)
		}
	}
}

func TestCreateBindingInvalid(t *testing.T) {
	big := `{"a":"13800000001","b":"13900000002","ttl_seconds":60,"order_id":"` + strings.Repeat("x", maxBody) + `"}`
	tests := []struct {
		name   string
		body   string
		ctype  string
		status int
		code   string
		field  string
	}{
		{"a missing", `{"b":"13900000002","ttl_seconds":60}`, "", 400, "invalid_field", "a"},
		{"a malformed", `{"a":"138abc","b":"13900000002","ttl_seconds":60}`, "", 400, "invalid_field", "a"},
		{"a anonymous", `{"a":"anonymous","b":"13900000002","ttl_seconds":60}`, "", 400, "invalid_field", "a"},
		{"a too long", `{"a":"+8613800000001999","b":"13900000002","ttl_seconds":60}`, "", 400, "invalid_field", "a"},
		{"a not a valid number", `{"a":"12000000000","b":"13900000002","ttl_seconds":60}`, "", 400, "invalid_field", "a"},
		{"b not a valid number", `{"a":"13800000001","b":"+1 700 555 0100","ttl_seconds":60}`, "", 400, "invalid_field", "b"},
		{"b foreign digits without plus", `{"a":"13800000001","b":"447911123456","ttl_seconds":60}`, "", 400, "invalid_field", "b"},
		{"a as number", `{"a":8613800000001,"b":"13900000002","ttl_seconds":60}`, "", 400, "invalid_field", "a"},
		{"a is a middle number", `{"a":"+8617000000001","b":"13900000002","ttl_seconds":60}`, "", 400, "invalid_field", "a"},
		{"b is a middle number of another pool", `{"a":"13800000001","b":"017000000005","ttl_seconds":60}`, "", 400, "invalid_field", "b"},
		{"b missing", `{"a":"13800000001","ttl_seconds":60}`, "", 400, "invalid_field", "b"},
		{"b malformed", `{"a":"13800000001","b":"*86#","ttl_seconds":60}`, "", 400, "invalid_field", "b"},
		{"b null", `{"a":"13800000001","b":null,"ttl_seconds":60}`, "", 400, "invalid_field", "b"},
		{"a equals b", `{"a":"+8613800000001","b":"138-0000-0001","ttl_seconds":60}`, "", 400, "invalid_field", "b"},
		{"x malformed", `{"a":"13800000001","b":"13900000002","x":"x1","ttl_seconds":60}`, "", 400, "invalid_field", "x"},
		{"x is a party", `{"a":"13800000001","b":"13900000002","x":"8613800000001","ttl_seconds":60}`, "", 400, "invalid_field", "x"},
		{"x not in pool", `{"a":"13800000001","b":"13900000002","x":"8617000000099","ttl_seconds":60}`, "", 400, "invalid_field", "x"},
		{"x in other pool", `{"a":"13800000001","b":"13900000002","x":"8617000000005","ttl_seconds":60}`, "", 400, "invalid_field", "x"},
		{"pool name", `{"a":"13800000001","b":"13900000002","pool":"no such/pool","ttl_seconds":60}`, "", 400, "invalid_field", "pool"},
		{"pool name too long", `{"a":"13800000001","b":"13900000002","pool":"` + strings.Repeat("p", 65) + `","ttl_seconds":60}`, "", 400, "invalid_field", "pool"},
		{"ttl and expires", `{"a":"13800000001","b":"13900000002","ttl_seconds":60,"expires_at":"2026-03-02T00:00:00Z"}`, "", 400, "invalid_field", "ttl_seconds"},
		{"no ttl no expires", `{"a":"13800000001","b":"13900000002"}`, "", 400, "invalid_field", "ttl_seconds"},
		{"ttl zero", `{"a":"13800000001","b":"13900000002","ttl_seconds":0}`, "", 400, "invalid_field", "ttl_seconds"},
		{"ttl negative", `{"a":"13800000001","b":"13900000002","ttl_seconds":-5}`, "", 400, "invalid_field", "ttl_seconds"},
		{"ttl over max", `{"a":"13800000001","b":"13900000002","ttl_seconds":34560001}`, "", 400, "invalid_field", "ttl_seconds"},
		{"ttl huge", `{"a":"13800000001","b":"13900000002","ttl_seconds":9223372036854775807}`, "", 400, "invalid_field", "ttl_seconds"},
		{"ttl overflow", `{"a":"13800000001","b":"13900000002","ttl_seconds":99999999999999999999}`, "", 400, "invalid_field", "ttl_seconds"},
		{"ttl fraction", `{"a":"13800000001","b":"13900000002","ttl_seconds":1.5}`, "", 400, "invalid_field", "ttl_seconds"},
		{"ttl string", `{"a":"13800000001","b":"13900000002","ttl_seconds":"60"}`, "", 400, "invalid_field", "ttl_seconds"},
		{"expires past", `{"a":"13800000001","b":"13900000002","expires_at":"2026-03-01T11:59:59Z"}`, "", 400, "invalid_field", "expires_at"},
		{"expires now", `{"a":"13800000001","b":"13900000002","expires_at":"2026-03-01T12:00:00Z"}`, "", 400, "invalid_field", "expires_at"},
		{"expires not rfc3339", `{"a":"13800000001","b":"13900000002","expires_at":"2026-03-02 12:00"}`, "", 400, "invalid_field", "expires_at"},
		{"expires beyond max", `{"a":"13800000001","b":"13900000002","expires_at":"2027-04-06T12:00:01Z"}`, "", 400, "invalid_field", "expires_at"},
		{"expires number", `{"a":"13800000001","b":"13900000002","expires_at":1772400000}`, "", 400, "invalid_field", "expires_at"},
		{"order id space", `{"a":"13800000001","b":"13900000002","ttl_seconds":60,"order_id":"o 1"}`, "", 400, "invalid_field", "order_id"},
		{"order id too long", `{"a":"13800000001","b":"13900000002","ttl_seconds":60,"order_id":"` + strings.Repeat("o", 129) + `"}`, "", 400, "invalid_field", "order_id"},
		{"unknown field", `{"a":"13800000001","b":"13900000002","ttl_seconds":60,"c":"13700000003"}`, "", 400, "invalid_field", "c"},
		{"duplicate field", `{"a":"13800000001","b":"13900000002","a":"13700000003","ttl_seconds":60}`, "", 400, "invalid_field", "a"},
		{"field name case", `{"A":"13800000001","b":"13900000002","ttl_seconds":60}`, "", 400, "invalid_field", "A"},
		{"trailing garbage", `{"a":"13800000001","b":"13900000002","ttl_seconds":60} x`, "", 400, "invalid_json", ""},
		{"two objects", `{"a":"13800000001","b":"13900000002","ttl_seconds":60}{}`, "", 400, "invalid_json", ""},
		{"malformed", `{"a":"13800000001",`, "", 400, "invalid_json", ""},
		{"syntax", `{"a" "13800000001"}`, "", 400, "invalid_json", ""},
		{"empty body", ``, "application/json", 400, "invalid_json", ""},
		{"array body", `[]`, "", 400, "invalid_json", ""},
		{"string body", `"a"`, "", 400, "invalid_json", ""},
		{"null body", `null`, "", 400, "invalid_field", "a"},
		{"too large", big, "", 413, "invalid_json", ""},
		{"form content type", `{"a":"13800000001","b":"13900000002","ttl_seconds":60}`, "application/x-www-form-urlencoded", 415, "invalid_json", ""},
		{"bad content type", `{"a":"13800000001","b":"13900000002","ttl_seconds":60}`, "application/json; =", 415, "invalid_json", ""},
	}
	a := newTestAPI(t)
	a.addPool("default", x1)
	a.addPool("other", "8617000000005")
	before := poolInfo(t, a, "default")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			r := a.do("POST", "/v1/bindings", tt.body, hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			e := r.errorOf(t)
			if e.Code != tt.code || e.Field != tt.field {
				t.Fatalf("error %+v, want code %q field %q", e, tt.code, tt.field)
			}
			if e.Message == "" {
				t.Error("no message")
			}
			if n := len(a.bindings()); n != 0 {
				t.Fatalf("store holds %d bindings after a bad request", n)
			}
			if after := poolInfo(t, a, "default"); after != before {
				t.Fatalf("pool changed: %+v -> %+v", before, after)
			}
		})
	}
}

// Plain curl without -H sends no Content-Type for some bodies; that is
// accepted, as is a JSON type with parameters.
func TestCreateBindingContentTypes(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1)
	for i, ct := range []string{"", "application/json; charset=utf-8", "application/merge-patch+json"} {
		body := fmt.Sprintf(`{"a":"1380000000%d","b":"1390000000%d","ttl_seconds":60}`, i, i)
		req, err := http.NewRequest("POST", a.srv.URL+"/v1/bindings", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("content type %q: status %d", ct, resp.StatusCode)
		}
	}
}

func TestCreateBindingIdempotent(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1, x2)
	r := a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000002","ttl_seconds":600,"order_id":"order-42"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	first := r.binding(t)

	// The retry writes the numbers differently; they normalise the same.
	r = a.do("POST", "/v1/bindings", `{"a":"+8613800000001","b":"0086 139 0000 0002","ttl_seconds":600,"order_id":"order-42"}`)
	if r.status != http.StatusOK {
		t.Fatalf("retry: status %d: %s", r.status, r.body)
	}
	if got := r.binding(t); got != first {
		t.Fatalf("retry returned %+v, want %+v", got, first)
	}
	if r.header.Get("Location") != "" {
		t.Error("retry has a Location header")
	}

	r = a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13700000003","ttl_seconds":600,"order_id":"order-42"}`)
	if r.status != http.StatusConflict {
		t.Fatalf("other parties: status %d: %s", r.status, r.body)
	}
	if e := r.errorOf(t); e.Code != "conflict" || e.Field != "order_id" {
		t.Fatalf("error %+v", e)
	}
	if bs := a.bindings(); len(bs) != 1 || bs[0] != first {
		t.Fatalf("store holds %+v, want only %+v", bs, first)
	}
}

func TestCreateBindingConflicts(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1)
	a.addPool("empty-ish", x2)
	if r := a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000002","ttl_seconds":600}`); r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	tests := []struct {
		name, body, code, field string
	}{
		// a is already on the only X of the pool.
		{"pool exhausted for a", `{"a":"13800000001","b":"13700000003","ttl_seconds":600}`, "no_number", "pool"},
		{"unknown pool", `{"a":"13600000004","b":"13700000003","pool":"nope","ttl_seconds":600}`, "no_number", "pool"},
		{"explicit x busy", `{"a":"13900000002","b":"13700000003","x":"8617000000001","ttl_seconds":600}`, "conflict", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do("POST", "/v1/bindings", tt.body)
			if r.status != http.StatusConflict {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if e := r.errorOf(t); e.Code != tt.code || e.Field != tt.field {
				t.Fatalf("error %+v, want %s %s", e, tt.code, tt.field)
			}
			if n := len(a.bindings()); n != 1 {
				t.Fatalf("store holds %d bindings, want 1", n)
			}
		})
	}
}

func TestGetListDeleteBinding(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1, x2)
	create := func(body string) store.Binding {
		r := a.do("POST", "/v1/bindings", body)
		if r.status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		return r.binding(t)
	}
	b1 := create(`{"a":"13800000001","b":"13900000002","x":"8617000000001","ttl_seconds":600,"order_id":"o1"}`)
	b2 := create(`{"a":"13800000001","b":"13700000003","x":"8617000000002","ttl_seconds":600,"order_id":"o2"}`)
	b3 := create(`{"a":"13600000004","b":"13700000003","x":"8617000000001","ttl_seconds":600}`)

	list := func(query string) []string {
		t.Helper()
		r := a.do("GET", "/v1/bindings"+query, "")
		if r.status != 200 {
			t.Fatalf("list %s: status %d: %s", query, r.status, r.body)
		}
		var l struct{ Bindings []store.Binding }
		if err := json.Unmarshal(r.body, &l); err != nil || l.Bindings == nil {
			t.Fatalf("list %s: %q: %v", query, r.body, err)
		}
		ids := []string{}
		for _, b := range l.Bindings {
			ids = append(ids, b.ID)
		}
		return ids
	}
	ids := func(bs ...store.Binding) string {
		var s []string
		for _, b := range bs {
			s = append(s, b.ID)
		}
		slices.Sort(s) // the store lists in ID order
		return fmt.Sprint(s)
	}
	for _, c := range []struct {
		query string
		want  string
	}{
		{"", ids(b1, b2, b3)},
		{"?x=%2B8617000000001", ids(b1, b3)},
		{"?x=017000000002", ids(b2)},
		{"?party=13800000001", ids(b1, b2)},
		{"?party=tel:+86-137-0000-0003&x=8617000000001", ids(b3)},
		{"?order_id=o2", ids(b2)},
		{"?order_id=nope", "[]"},
		{"?party=13500000009", "[]"},
		{"?limit=2", fmt.Sprint(list("")[:2])},
		{"?limit=1000&party=13800000001", ids(b1, b2)},
	} {
		if got := fmt.Sprint(list(c.query)); got != c.want {
			t.Errorf("list %q = %s, want %s", c.query, got, c.want)
		}
	}

	for _, c := range []struct{ query, field string }{
		{"?x=abc", "x"},
		{"?party=anonymous", "party"},
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=ten", "limit"},
		{"?order_id=a%20b", "order_id"},
		{"?parti=13800000001", "parti"},
		{"?x=8617000000001&x=8617000000002", "x"},
		{"?x=%zz", "query"},
	} {
		r := a.do("GET", "/v1/bindings"+c.query, "")
		if r.status != 400 {
			t.Errorf("list %q: status %d: %s", c.query, r.status, r.body)
			continue
		}
		if e := r.errorOf(t); e.Code != "invalid_field" || e.Field != c.field {
			t.Errorf("list %q: error %+v, want field %q", c.query, e, c.field)
		}
	}

	if got := a.do("GET", "/v1/bindings/"+b2.ID, "").binding(t); got != b2 {
		t.Fatalf("GET = %+v, want %+v", got, b2)
	}
	r := a.do("DELETE", "/v1/bindings/"+b2.ID, "")
	if r.status != 200 {
		t.Fatalf("DELETE: status %d: %s", r.status, r.body)
	}
	if got := r.binding(t); got != b2 {
		t.Fatalf("DELETE returned %+v, want %+v", got, b2)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/bindings/" + b2.ID},
		{"DELETE", "/v1/bindings/" + b2.ID},
		{"GET", "/v1/bindings/nope"},
		{"DELETE", "/v1/bindings/nope"},
		{"GET", "/v1/bindings/" + strings.Repeat("b", 200)},
	} {
		r := a.do(c.method, c.path, "")
		if r.status != 404 {
			t.Errorf("%s %s: status %d: %s", c.method, c.path, r.status, r.body)
			continue
		}
		if e := r.errorOf(t); e.Code != "not_found" {
			t.Errorf("%s %s: error %+v", c.method, c.path, e)
		}
	}
	if got, want := fmt.Sprint(list("")), ids(b1, b3); got != want {
		t.Fatalf("after delete: %s, want %s", got, want)
	}
	if _, err := a.db.Lookup(t.Context(), x2, pa); err == nil {
		t.Fatal("deleted binding still routes")
	}
}

// benchAPI is the handler over a real store in b.TempDir() with a pool of
// 100 numbers.
func benchAPI(b *testing.B, opts ...store.Option) http.Handler {
	db, err := store.Open(filepath.Join(b.TempDir(), "xbridge.db"), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	var pool []string
	for i := range 100 {
		pool = append(pool, fmt.Sprintf("861700000%04d", i))
	}
	if _, err := db.AddNumbers(b.Context(), "default", pool); err != nil {
		b.Fatal(err)
	}
	return New(db)
}

func postBinding(b *testing.B, h http.Handler, i int64) *httptest.ResponseRecorder {
	body := fmt.Sprintf(`{"a":"+86 130 %08d","b":"150%08d","ttl_seconds":86400,"order_id":"bench-%d"}`, i, i, i)
	req := httptest.NewRequest("POST", "/v1/bindings", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusCreated {
		b.Errorf("status %d: %s", w.Code, w.Body)
	}
	return w
}

// BenchmarkCreateBinding is POST /v1/bindings through the handler, each a
// new binding committed (fsync) by the store: serially, and from 32
// goroutines, where the store's batching (WithBatchDelay) can group commits.
func BenchmarkCreateBinding(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		h := benchAPI(b)
		var i int64
		b.ReportAllocs()
		for b.Loop() {
			i++
			postBinding(b, h, i)
		}
	})
	for _, delay := range []time.Duration{0, time.Millisecond} {
		b.Run(fmt.Sprintf("parallel-32/batch-delay-%s", delay), func(b *testing.B) {
			h := benchAPI(b, store.WithBatchDelay(delay))
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					postBinding(b, h, n.Add(1))
				}
			})
		})
	}
}

// BenchmarkGetBinding is GET /v1/bindings/{id}: the API's own cost plus one
// store read, no fsync.
func BenchmarkGetBinding(b *testing.B) {
	h := benchAPI(b)
	var created store.Binding
	if err := json.Unmarshal(postBinding(b, h, 1).Body.Bytes(), &created); err != nil {
		b.Fatal(err)
	}
	path := "/v1/bindings/" + created.ID
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// Every valid E.164 number is accepted, and a national number is one of the
// default country, whatever its digits look like abroad.
func TestCreateBindingNumbers(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1, x2)
	for _, tt := range []struct{ a, b, wantA, wantB string }{
		{"+1 212 555 0100", "13900000002", "12125550100", pb},             // refused before: read as a Chinese mobile
		{"2125550100", "+44 7911 123456", "862125550100", "447911123456"}, // Shanghai, not Morocco (+212)
	} {
		r := a.do("POST", "/v1/bindings", fmt.Sprintf(`{"a":%q,"b":%q,"ttl_seconds":60}`, tt.a, tt.b))
		if r.status != http.StatusCreated {
			t.Fatalf("a %q b %q: status %d: %s", tt.a, tt.b, r.status, r.body)
		}
		if b := r.binding(t); b.A != tt.wantA || b.B != tt.wantB {
			t.Errorf("a %q b %q stored as %s, %s; want %s, %s", tt.a, tt.b, b.A, b.B, tt.wantA, tt.wantB)
		}
	}
}
