package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// FuzzCreateBinding posts arbitrary bodies: the API never fails with a 5xx
// or a success code other than 200/201, always answers a JSON error object
// when it refuses, and a refused request never changes the store.
func FuzzCreateBinding(f *testing.F) {
	for _, s := range []string{
		`{"a":"13800000001","b":"13900000002","ttl_seconds":60}`,
		`{"a":"+8613800000001","b":"tel:+86-139-0000-0002","x":"8617000000001","pool":"default","expires_at":"2026-03-02T00:00:00Z","order_id":"o1"}`,
		`{"a":"13800000001","b":"13800000001","ttl_seconds":60}`,
		`{"a":"anonymous","b":"13900000002","ttl_seconds":-1}`,
		`{"a":"13800000001","b":"13900000002","ttl_seconds":60} x`,
		`{"A":"13800000001"}`, `[]`, `null`, ``, `{"a":1e400}`,
	} {
		f.Add(s)
	}
	db, h := fuzzAPI(f, x1, x2)
	count := func(t *testing.T) int {
		bs, err := db.ListBindings(context.Background(), store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(bs)
	}
	f.Fuzz(func(t *testing.T, body string) {
		before := count(t)
		w, ok := serveFuzz(t, h, "POST", "/v1/bindings", "application/json", body, http.StatusOK, http.StatusCreated)
		if ok {
			return
		}
		if after := count(t); after != before {
			t.Fatalf("body %q refused with %d but bindings went %d -> %d", body, w.Code, before, after)
		}
	})
}

// FuzzPatchBinding patches one binding with arbitrary bodies: never a 5xx,
// a JSON error for every refusal, and a refused patch leaves the binding
// as it was.
func FuzzPatchBinding(f *testing.F) {
	for _, s := range []string{
		`{"b":"13700000003"}`, `{"b":null}`, `{"a":null}`, `{"order_id":null,"direction":"a_to_b"}`,
		`{"max_call_seconds":60,"warn_seconds":59}`, `{"ttl_seconds":1,"expires_at":"x"}`, `{"record":true,"user_data":null}`,
		`{"x":"1"}`, `[]`, `null`, ``, `{"b":1e400}`,
	} {
		f.Add(s)
	}
	db, h := fuzzAPI(f, x1)
	ctx := context.Background()
	b, _, err := db.CreateBinding(ctx, store.NewBinding{Pool: "default", A: pa, B: pb, ExpiresAt: testNow.Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		before, err := db.GetBinding(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := serveFuzz(t, h, "PATCH", "/v1/bindings/"+b.ID, "application/merge-patch+json", body, http.StatusOK)
		if ok {
			return
		}
		if after, err := db.GetBinding(ctx, b.ID); err != nil || after != before {
			t.Fatalf("body %q refused with %d but the binding went %+v -> %+v (%v)", body, w.Code, before, after, err)
		}
	})
}

// fuzzAPI is the API over a store in f.TempDir() with numbers in pool
// "default", at testNow.
func fuzzAPI(f *testing.F, numbers ...string) (*store.DB, http.Handler) {
	clock := func() time.Time { return testNow }
	db, err := store.Open(filepath.Join(f.TempDir(), "xbridge.db"), store.WithClock(clock))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	if _, err := db.AddNumbers(context.Background(), "default", numbers); err != nil {
		f.Fatal(err)
	}
	return db, New(db, WithClock(clock))
}

// serveFuzz sends body and reports whether the answer is one of success;
// anything else must be a refusal (400, 409, 413) with a JSON error.
func serveFuzz(t *testing.T, h http.Handler, method, path, ctype, body string, success ...int) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	switch w.Code {
	case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
	default:
		if slices.Contains(success, w.Code) {
			return w, true
		}
		t.Fatalf("body %q: status %d: %s", body, w.Code, w.Body)
	}
	r := response{status: w.Code, body: w.Body.Bytes()}
	if e := r.errorOf(t); e.Code == "" || e.Message == "" {
		t.Fatalf("body %q: error %+v", body, e)
	}
	return w, false
}
