package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/number"
	"github.com/xbridge/xbridge/store"
)

// testNow is the clock of the API and the store in tests: fixed, so expiry
// checks do not depend on the machine's speed.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testAPI struct {
	t   *testing.T
	srv *httptest.Server
	db  *store.DB
	log *lockedBuffer
}

// newTestAPI serves the API over a real bbolt store in t.TempDir() on a
// 127.0.0.1 socket.
func newTestAPI(t *testing.T, opts ...Option) *testAPI {
	t.Helper()
	clock := func() time.Time { return testNow }
	db, err := store.Open(filepath.Join(t.TempDir(), "xbridge.db"), store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	buf := &lockedBuffer{}
	opts = append([]Option{WithClock(clock), WithLogger(zerolog.New(buf))}, opts...)
	srv := testkit.HTTPServer(t, New(db, opts...))
	return &testAPI{t: t, srv: srv, db: db, log: buf}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// errorOf decodes an error body; it fails the test if the body is not one.
func (r response) errorOf(t *testing.T) apiError {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		t.Fatalf("status %d: body %q is not an error object (%v)", r.status, r.body, err)
	}
	return *e.Error
}

func (r response) binding(t *testing.T) store.Binding {
	t.Helper()
	return r.view(t).binding()
}

// view decodes a binding as the API shows it.
func (r response) view(t *testing.T) bindingView {
	t.Helper()
	var v bindingView
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("status %d: body %q is not a binding: %v", r.status, r.body, err)
	}
	return v
}

// binding is the stored binding v shows (defaults back to the zero value,
// as the API stores them).
func (v bindingView) binding() store.Binding {
	p := store.Policy{Direction: v.Direction, MaxCallSeconds: v.MaxCallSeconds, WarnSeconds: v.WarnSeconds,
		CallerDisplay: v.CallerDisplay, Record: v.Record, UserData: v.UserData}
	if p.Direction == store.DirectionBoth {
		p.Direction = ""
	}
	if p.CallerDisplay == store.DisplayX {
		p.CallerDisplay = ""
	}
	return store.Binding{ID: v.ID, Model: v.Model, Pool: v.Pool, X: v.X, A: v.A, B: v.B, Extension: v.Extension,
		Area: v.Area, OrderID: v.OrderID, Policy: p, CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt}
}

func (a *testAPI) do(method, path, body string, header ...string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

type posted struct {
	status int
	id     string
}

// post creates a binding from any goroutine (no t.Fatal): the status, and
// the binding's ID when there is one.
func (a *testAPI) post(body string) posted {
	resp, err := a.srv.Client().Post(a.srv.URL+"/v1/bindings", "application/json", strings.NewReader(body))
	if err != nil {
		a.t.Error(err)
		return posted{}
	}
	defer resp.Body.Close()
	var b store.Binding
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return posted{status: resp.StatusCode, id: b.ID}
}

// addPool fills pool with numbers through the store directly.
func (a *testAPI) addPool(pool string, numbers ...string) {
	a.t.Helper()
	if _, err := a.db.AddNumbers(context.Background(), pool, numbers); err != nil {
		a.t.Fatal(err)
	}
}

func (a *testAPI) bindings() []store.Binding {
	a.t.Helper()
	bs, err := a.db.ListBindings(context.Background(), store.Filter{})
	if err != nil {
		a.t.Fatal(err)
	}
	return bs
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer = testkit.LogBuffer

func TestHealthz(t *testing.T) {
	a := newTestAPI(t, WithToken("secret"))
	r := a.do("GET", "/healthz", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"ok"`) {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
}

func TestReadyz(t *testing.T) {
	var why error
	a := newTestAPI(t, WithToken("secret"), WithReadiness(func() error { return why }))
	if r := a.do("GET", "/readyz", ""); r.status != 200 || !strings.Contains(string(r.body), `"ready"`) {
		t.Errorf("ready: %d %s", r.status, r.body)
	}
	why = errors.New("shutting down")
	if r := a.do("GET", "/readyz", ""); r.status != 503 || !strings.Contains(string(r.body), `"shutting down"`) {
		t.Errorf("draining: %d %s", r.status, r.body)
	}
}

func TestAuth(t *testing.T) {
	a := newTestAPI(t, WithToken("s3cret"))
	a.addPool("default", "8617000000001")
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no header", "GET", "/v1/bindings", "", 401},
		{"wrong token", "GET", "/v1/bindings", "Bearer nope", 401},
		{"token prefix", "GET", "/v1/bindings", "Bearer s3cre", 401},
		{"basic scheme", "GET", "/v1/bindings", "Basic czNjcmV0", 401},
		{"bare token", "GET", "/v1/bindings", "s3cret", 401},
		{"right token", "GET", "/v1/bindings", "Bearer s3cret", 200},
		{"scheme case", "GET", "/v1/bindings", "bearer s3cret", 200},
		{"pool needs token", "GET", "/v1/pools/default", "", 401},
		{"pool with token", "GET", "/v1/pools/default", "Bearer s3cret", 200},
		{"openapi needs token", "GET", "/v1/openapi.yaml", "", 401},
		{"unknown v1 path hides behind auth", "GET", "/v1/nothing", "", 401},
		{"write needs token", "POST", "/v1/bindings", "", 401},
		{"healthz is open", "GET", "/healthz", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			body := ""
			if tt.method == "POST" {
				body = `{"a":"13800000001","b":"13900000002","ttl_seconds":60}`
			}
			r := a.do(tt.method, tt.path, body, hdr...)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == 401 {
				if e := r.errorOf(t); e.Code != "unauthorized" {
					t.Errorf("code %q", e.Code)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate")
				}
			}
		})
	}
	if n := len(a.bindings()); n != 0 {
		t.Fatalf("unauthorized POST wrote %d bindings", n)
	}
}

func TestUnknownRoutes(t *testing.T) {
	a := newTestAPI(t)
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"PUT", "/v1/bindings", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/v1/bindings/b1", 405, "method_not_allowed", "DELETE, GET, HEAD, PATCH"},
		{"DELETE", "/v1/pools/default", 405, "method_not_allowed", "GET, HEAD, PUT"},
		{"GET", "/v1/pools/default/numbers", 405, "method_not_allowed", "POST"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/nothing", 404, "not_found", ""},
		{"GET", "/", 404, "not_found", ""},
		{"GET", "/v1//nothing", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := a.do(tt.method, tt.path, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if e := r.errorOf(t); e.Code != tt.code {
				t.Errorf("code %q, want %q", e.Code, tt.code)
			}
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

// A failing store answers 500 with a short message; its words go to the log
// only.
func TestInternalErrorDoesNotLeak(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", "8617000000001")
	if err := a.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/bindings", ""},
		{"GET", "/v1/pools/default", ""},
		{"POST", "/v1/bindings", `{"a":"13800000001","b":"13900000002","ttl_seconds":60}`},
		{"DELETE", "/v1/bindings/b0000000000000000000000000", ""},
	} {
		r := a.do(c.method, c.path, c.body)
		if r.status != 500 {
			t.Fatalf("%s %s: status %d, want 500: %s", c.method, c.path, r.status, r.body)
		}
		e := r.errorOf(t)
		if e.Code != "internal" || e.Message != "internal error" {
			t.Errorf("%s %s: error %+v", c.method, c.path, e)
		}
	}
	if log := a.log.String(); !strings.Contains(log, "internal error") || !strings.Contains(log, `"level":"error"`) {
		t.Errorf("500s not logged: %s", log)
	}
}

func TestOptions(t *testing.T) {
	t.Run("max ttl", func(t *testing.T) {
		a := newTestAPI(t, WithMaxTTL(time.Hour))
		a.addPool("default", x1)
		r := a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000002","ttl_seconds":3601}`)
		if e := r.errorOf(t); r.status != 400 || e.Field != "ttl_seconds" {
			t.Fatalf("ttl over max: %d %+v", r.status, e)
		}
		r = a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000002","expires_at":"2026-03-01T13:00:01Z"}`)
		if e := r.errorOf(t); r.status != 400 || e.Field != "expires_at" {
			t.Fatalf("expiry over max: %d %+v", r.status, e)
		}
		if r := a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000002","ttl_seconds":3600}`); r.status != 201 {
			t.Fatalf("ttl at max: %d %s", r.status, r.body)
		}
	})
	t.Run("default country", func(t *testing.T) {
		gb, err := number.LookupCountry("GB")
		if err != nil {
			t.Fatal(err)
		}
		a := newTestAPI(t, WithCountry(gb))
		a.addPool("default", "447700900001")
		r := a.do("POST", "/v1/bindings", `{"a":"07911 123456","b":"+86 138 0000 0001","ttl_seconds":60}`)
		if r.status != 201 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if b := r.binding(t); b.A != "447911123456" || b.B != pa || b.X != "447700900001" {
			t.Fatalf("binding %+v", b)
		}
	})
}
