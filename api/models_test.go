package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/xbridge/xbridge/store"
)

func TestCreateAXE(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1)
	r := a.do("POST", "/v1/bindings", `{"model":"axe","a":"13800000001","ttl_seconds":600,"order_id":"parcel-1"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	v := r.view(t)
	if v.Model != store.ModelAXE || v.X != x1 || v.A != pa || v.B != "" || len(v.Extension) != 4 {
		t.Fatalf("AXE %+v", v)
	}
	want := dialForms{Pause: "17000000001," + v.Extension, Print: "17000000001转" + v.Extension}
	if v.Dial == nil || *v.Dial != want {
		t.Fatalf("dial %+v, want %+v", v.Dial, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil || raw["model"] != "AXE" {
		t.Fatalf("body %s", r.body)
	}
	got, err := a.db.LookupExtension(t.Context(), x1, v.Extension)
	if err != nil || got.ID != v.ID {
		t.Fatalf("LookupExtension = %+v, %v", got, err)
	}

	// A chosen extension; one already used is a conflict; an AXN cannot
	// share the X.
	r = a.do("POST", "/v1/bindings", `{"model":"AXE","a":"13800000002","extension":"0042","ttl_seconds":600}`)
	if r.status != http.StatusCreated || r.view(t).Extension != "0042" {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	for _, c := range []struct{ body, code, field string }{
		{`{"model":"axe","a":"13800000003","x":"+8617000000001","extension":"0042","ttl_seconds":600}`, "conflict", "extension"},
		{`{"model":"axe","a":"13800000003","extension":"0042","ttl_seconds":600}`, "no_number", "pool"},
		{`{"model":"axn","a":"13800000003","x":"+8617000000001","ttl_seconds":600}`, "slot_taken", "x"},
	} {
		r = a.do("POST", "/v1/bindings", c.body)
		if e := r.errorOf(t); r.status != http.StatusConflict || e.Code != c.code || e.Field != c.field {
			t.Fatalf("%s: status %d error %+v", c.body, r.status, e)
		}
	}
}

func TestCreateAXNAndPolicy(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1)
	r := a.do("POST", "/v1/bindings", `{"model":"axn","a":"13800000001","ttl_seconds":600}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if v := r.view(t); v.Model != store.ModelAXN || v.B != "" || v.Dial != nil {
		t.Fatalf("AXN %+v", v)
	}
	r = a.do("POST", "/v1/bindings", `{"a":"13700000003","b":"13900000002","ttl_seconds":600,"direction":"a_to_b",
		"max_call_seconds":600,"warn_seconds":60,"caller_display":"x","record":true,"user_data":"parcel 7"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	v := r.view(t)
	got := a.do("GET", "/v1/bindings/"+v.ID, "").view(t)
	want := bindingView{Direction: store.DirectionAToB, MaxCallSeconds: 600, WarnSeconds: 60, CallerDisplay: store.DisplayX, Record: true, UserData: "parcel 7"}
	if got.Direction != want.Direction || got.MaxCallSeconds != 600 || got.WarnSeconds != 60 || got.CallerDisplay != want.CallerDisplay || !got.Record || got.UserData != want.UserData {
		t.Fatalf("GET shows %+v", got)
	}
	// Defaults are spelled out.
	var raw map[string]any
	body := a.do("GET", "/v1/bindings?limit=10", "").body
	if err := json.Unmarshal(body, &raw); err != nil || !strings.Contains(string(body), `"direction":"both"`) || !strings.Contains(string(body), `"caller_display":"x"`) {
		t.Fatalf("list %s", body)
	}
}

func TestCreateModelsInvalid(t *testing.T) {
	long := strings.Repeat("u", 2049)
	tests := []struct{ name, body, field string }{
		{"model unknown", `{"model":"axq","a":"13800000001","b":"13900000002","ttl_seconds":60}`, "model"},
		{"axe with b", `{"model":"axe","a":"13800000001","b":"13900000002","ttl_seconds":60}`, "b"},
		{"axb without b", `{"model":"axb","a":"13800000001","ttl_seconds":60}`, "b"},
		{"extension on axb", `{"a":"13800000001","b":"13900000002","extension":"1234","ttl_seconds":60}`, "extension"},
		{"extension letters", `{"model":"axe","a":"13800000001","extension":"12a4","ttl_seconds":60}`, "extension"},
		{"extension length of pool", `{"model":"axe","a":"13800000001","extension":"123","ttl_seconds":60}`, "extension"},
		{"extension number", `{"model":"axe","a":"13800000001","extension":1234,"ttl_seconds":60}`, "extension"},
		{"direction", `{"a":"13800000001","b":"13900000002","direction":"up","ttl_seconds":60}`, "direction"},
		{"direction on axn", `{"model":"axn","a":"13800000001","direction":"a_to_b","ttl_seconds":60}`, "direction"},
		{"caller display", `{"a":"13800000001","b":"13900000002","caller_display":"b","ttl_seconds":60}`, "caller_display"},
		{"caller display real not allowed", `{"a":"13800000001","b":"13900000002","caller_display":"real","ttl_seconds":60}`, "caller_display"},
		{"max negative", `{"a":"13800000001","b":"13900000002","max_call_seconds":-1,"ttl_seconds":60}`, "max_call_seconds"},
		{"max too big", `{"a":"13800000001","b":"13900000002","max_call_seconds":604801,"ttl_seconds":60}`, "max_call_seconds"},
		{"warn not below max", `{"a":"13800000001","b":"13900000002","max_call_seconds":60,"warn_seconds":60,"ttl_seconds":60}`, "warn_seconds"},
		{"warn without max", `{"a":"13800000001","b":"13900000002","warn_seconds":10,"ttl_seconds":60}`, "warn_seconds"},
		{"record string", `{"a":"13800000001","b":"13900000002","record":"yes","ttl_seconds":60}`, "record"},
		{"user data too long", `{"a":"13800000001","b":"13900000002","user_data":"` + long + `","ttl_seconds":60}`, "user_data"},
		{"area letters", `{"a":"13800000001","b":"13900000002","area":"bj","ttl_seconds":60}`, "area"},
		{"area match", `{"a":"13800000001","b":"13900000002","area_match":"near","ttl_seconds":60}`, "area_match"},
	}
	a := newTestAPI(t)
	a.addPool("default", x1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do("POST", "/v1/bindings", tt.body)
			if e := r.errorOf(t); r.status != 400 || e.Code != "invalid_field" || e.Field != tt.field {
				t.Fatalf("status %d error %+v, want 400 naming %q", r.status, e, tt.field)
			}
			if n := len(a.bindings()); n != 0 {
				t.Fatalf("store holds %d bindings after a bad request", n)
			}
		})
	}
}

func TestPatchBinding(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1)
	b := a.do("POST", "/v1/bindings", `{"a":"13800000001","b":"13900000002","ttl_seconds":600,"order_id":"o-1","user_data":"u"}`).binding(t)
	other := a.do("POST", "/v1/bindings", `{"a":"13800000005","b":"13900000006","ttl_seconds":600}`).binding(t)
	patch := func(body string, ctype ...string) response {
		hdr := []string{"Content-Type", "application/merge-patch+json"}
		if len(ctype) > 0 {
			hdr[1] = ctype[0]
		}
		return a.do("PATCH", "/v1/bindings/"+b.ID, body, hdr...)
	}
	r := patch(`{"b":"+86 137 0000 0003","order_id":null,"direction":"b_to_a","max_call_seconds":120,"user_data":null,"ttl_seconds":60}`)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	got := r.binding(t)
	if got.B != pc || got.OrderID != "" || got.Policy.Direction != store.DirectionBToA || got.Policy.MaxCallSeconds != 120 ||
		got.Policy.UserData != "" || !got.ExpiresAt.Equal(testNow.Add(60*1e9)) || got.A != pa {
		t.Fatalf("patched %+v", got)
	}
	if g := a.do("GET", "/v1/bindings/"+b.ID, "").binding(t); g != got {
		t.Fatalf("GET after PATCH %+v, want %+v", g, got)
	}
	if _, err := a.db.Lookup(t.Context(), x1, pb); err == nil {
		t.Fatal("old b still resolves")
	}
	// application/json is taken too; null puts a policy field back.
	if r := patch(`{"direction":null}`, "application/json"); r.status != 200 || r.binding(t).Policy.Direction != "" {
		t.Fatalf("status %d: %s", r.status, r.body)
	}

	bad := []struct {
		name, body string
		status     int
		code       string
		field      string
	}{
		{"unknown field", `{"c":"13700000009"}`, 400, "invalid_field", "c"},
		{"x not patchable", `{"x":"8617000000002"}`, 400, "invalid_field", "x"},
		{"a null", `{"a":null}`, 400, "invalid_field", "a"},
		{"a malformed", `{"a":"138abc"}`, 400, "invalid_field", "a"},
		{"a number", `{"a":13800000001}`, 400, "invalid_field", "a"},
		{"b null on axb", `{"b":null}`, 400, "invalid_field", "b"},
		{"b is a middle number", `{"b":"+8617000000001"}`, 400, "invalid_field", "b"},
		{"a equals b", `{"a":"13700000003"}`, 400, "invalid_field", "b"},
		{"b busy", `{"b":"13900000006"}`, 409, "conflict", "x"},
		{"ttl and expires", `{"ttl_seconds":60,"expires_at":"2026-03-02T00:00:00Z"}`, 400, "invalid_field", "ttl_seconds"},
		{"ttl null", `{"ttl_seconds":null}`, 400, "invalid_field", "ttl_seconds"},
		{"expires past", `{"expires_at":"2026-03-01T11:00:00Z"}`, 400, "invalid_field", "expires_at"},
		{"warn over max", `{"warn_seconds":500}`, 400, "invalid_field", "warn_seconds"},
		{"direction", `{"direction":"up"}`, 400, "invalid_field", "direction"},
		{"record", `{"record":1}`, 400, "invalid_field", "record"},
		{"good b, bad policy", `{"b":"13700000009","caller_display":"real"}`, 400, "invalid_field", "caller_display"},
		{"order id of another", `{"order_id":"o-2"}`, 409, "conflict", "order_id"},
		{"not json", `{"b":`, 400, "invalid_json", ""},
	}
	a.do("PATCH", "/v1/bindings/"+other.ID, `{"order_id":"o-2"}`)
	before := a.bindings()
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := patch(tt.body)
			if e := r.errorOf(t); r.status != tt.status || e.Code != tt.code || e.Field != tt.field {
				t.Fatalf("status %d error %+v, want %d %s %q", r.status, e, tt.status, tt.code, tt.field)
			}
			if after := a.bindings(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("a refused patch changed the store")
			}
		})
	}
	if r := patch(`{"b":"13700000009"}`, "text/plain"); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: status %d", r.status)
	}
	if r := a.do("PATCH", "/v1/bindings/b-none", `{"b":"13700000009"}`); r.status != 404 {
		t.Fatalf("unknown id: status %d", r.status)
	}
}

// TestConcurrentPostAndPatch: 60 writers create and patch bindings on one
// X at once; afterwards no number is twice on X and the store's indexes
// agree with every binding.
func TestConcurrentPostAndPatch(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1)
	const (
		writers = 60
		parties = 30
	)
	party := func(n int) string { return fmt.Sprintf("138%08d", n%parties) }
	seed := a.do("POST", "/v1/bindings", `{"a":"13800000000","b":"13800000001","ttl_seconds":600}`).binding(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		ids   = []string{seed.ID}
		codes = map[int]int{}
	)
	for w := range writers {
		wg.Go(func() {
			for i := range 4 {
				var status int
				if (w+i)%2 == 0 {
					p := a.post(fmt.Sprintf(`{"a":"%s","b":"%s","ttl_seconds":600}`, party(w+i), party(w*7+i+1)))
					status = p.status
					if p.status == http.StatusCreated {
						mu.Lock()
						ids = append(ids, p.id)
						mu.Unlock()
					}
				} else {
					mu.Lock()
					id := ids[(w*13+i)%len(ids)]
					mu.Unlock()
					field := "a"
					if i%2 == 1 {
						field = "b"
					}
					req, err := http.NewRequest("PATCH", a.srv.URL+"/v1/bindings/"+id,
						strings.NewReader(fmt.Sprintf(`{%q:%q}`, field, party(w*11+i))))
					if err != nil {
						t.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/merge-patch+json")
					resp, err := a.srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				codes[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for code := range codes {
		if code != 200 && code != 201 && code != 400 && code != 409 {
			t.Fatalf("codes %v: %d is no answer to a race", codes, code)
		}
	}
	owner := map[string]string{}
	for _, b := range a.bindings() {
		for _, p := range []string{b.A, b.B} {
			if prev, dup := owner[p]; dup {
				t.Fatalf("%s twice on %s: %s and %s", p, x1, prev, b.ID)
			}
			owner[p] = b.ID
			got, err := a.db.Lookup(t.Context(), b.X, p)
			if err != nil || got != b {
				t.Fatalf("Lookup(%s, %s) = %+v, %v; want %+v", b.X, p, got, err, b)
			}
		}
	}
	if codes[200] == 0 || codes[201] < 2 {
		t.Fatalf("codes %v: the race never patched or created", codes)
	}
	t.Logf("codes %v, %d parties bound", codes, len(owner))
}
