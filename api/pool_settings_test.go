package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/store"
)

func TestAreas(t *testing.T) {
	a := newTestAPI(t)
	for _, c := range []struct{ body, area string }{
		{`{"numbers":["8617000000101","8617000000102"],"area":"010"}`, "010"},
		{`{"numbers":["8617000000211"],"area":"021"}`, "021"},
	} {
		if r := a.do("POST", "/v1/pools/default/numbers", c.body); r.status != http.StatusOK {
			t.Fatalf("add %s: %d %s", c.area, r.status, r.body)
		}
	}
	// A on both 010 numbers fills that area for A.
	for i, b := range []string{"13900000001", "13900000002"} {
		r := a.do("POST", "/v1/bindings", fmt.Sprintf(`{"a":"13800000001","b":"%s","ttl_seconds":60,"area":"010","area_match":"strict"}`, b))
		if r.status != http.StatusCreated {
			t.Fatalf("binding %d: %d %s", i, r.status, r.body)
		}
		if got := r.binding(t); got.Area != "010" || !strings.HasPrefix(got.X, "86170000001") {
			t.Fatalf("binding %d: x %s area %q", i, got.X, got.Area)
		}
	}
	tests := []struct {
		name, extra string
		status      int
		code, field string
		area        string
	}{
		{"strict full", `"area":"010","area_match":"strict"`, 409, "no_number", "area", ""},
		{"strict by default", `"area":"010"`, 409, "no_number", "area", ""},
		{"loose falls back", `"area":"010","area_match":"loose"`, 201, "", "", "021"},
		{"bad area", `"area":"01x"`, 400, "invalid_field", "area", ""},
		{"area too long", `"area":"012345678"`, 400, "invalid_field", "area", ""},
		{"bad area_match", `"area":"010","area_match":"nearby"`, 400, "invalid_field", "area_match", ""},
		{"area_match without area", `"area_match":"loose"`, 400, "invalid_field", "area_match", ""},
		{"area not a string", `"area":10`, 400, "invalid_field", "area", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := a.bindings()
			r := a.do("POST", "/v1/bindings", fmt.Sprintf(`{"a":"13800000001","b":"1370000%04d","ttl_seconds":60,%s}`, i, tc.extra))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 201 {
				if got := r.binding(t); got.Area != tc.area {
					t.Fatalf("area %q, want %q", got.Area, tc.area)
				}
				return
			}
			if e := r.errorOf(t); e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("error %+v, want %s %s", e, tc.code, tc.field)
			}
			if after := a.bindings(); len(after) != len(before) {
				t.Fatalf("a refused request bound: %d -> %d", len(before), len(after))
			}
		})
	}
	for _, c := range []struct{ body, field string }{
		{`{"numbers":["8617000000301"],"area":"1"}`, "area"},
		{`{"numbers":["8617000000301"],"area":"abc"}`, "area"},
	} {
		if r := a.do("POST", "/v1/pools/default/numbers", c.body); r.status != 400 || r.errorOf(t).Field != c.field {
			t.Fatalf("add %s: %d %s", c.body, r.status, r.body)
		}
	}
	// A number keeps its area: re-adding it under another is a conflict.
	if r := a.do("POST", "/v1/pools/default/numbers", `{"numbers":["8617000000101"],"area":"021"}`); r.status != 409 {
		t.Fatalf("re-add in another area: %d %s", r.status, r.body)
	}
}

func TestPutPoolSettings(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("PUT", "/v1/pools/courier", `{"extension_length":6,"quarantine_seconds":600,
		"unknown_caller":{"action":"announce","prompt":"not_in_service"},
		"expiry":{"mode":"teardown","warn_seconds":30},"callback_window_seconds":7200,
		"allow_real_display":true,"prompts":{"enter_extension":"/etc/xbridge/ext.wav"}}`)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var doc PoolSettingsDoc
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ExtensionLength != 6 || *doc.QuarantineSeconds != 600 || doc.UnknownCaller.Action != "announce" ||
		doc.Expiry.WarnSeconds != 30 || doc.CallbackWindowSeconds != 7200 || !doc.AllowRealDisplay ||
		doc.Prompts["enter_extension"] != "/etc/xbridge/ext.wav" {
		t.Fatalf("settings %s", r.body)
	}
	// The pool exists now, empty, and GET shows the settings.
	r = a.do("GET", "/v1/pools/courier", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"extension_length":6`) || !strings.Contains(string(r.body), `"size":0`) {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	// Whole replacement: what is left out is the default again.
	r = a.do("PUT", "/v1/pools/courier", `{}`)
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 {
		t.Fatalf("PUT {}: %d %s", r.status, r.body)
	}
	if doc.ExtensionLength != 4 || *doc.QuarantineSeconds != 24*3600 || doc.UnknownCaller.Code != 404 || doc.Expiry.Mode != "teardown" {
		t.Fatalf("defaults %s", r.body)
	}

	good := a.do("GET", "/v1/pools/courier", "").body
	tests := []struct{ body, field string }{
		{`{"extension_length":7}`, "extension_length"},
		{`{"extension_length":"4"}`, "extension_length"},
		{`{"quarantine_seconds":-1}`, "quarantine_seconds"},
		{`{"quarantine_seconds":99999999999999}`, "quarantine_seconds"},
		{`{"callback_window_seconds":-5}`, "callback_window_seconds"},
		{`{"unknown_caller":{"action":"hangup"}}`, "unknown_caller.action"},
		{`{"unknown_caller":{"code":200}}`, "unknown_caller.code"},
		{`{"unknown_caller":{"action":"announce","code":486}}`, "unknown_caller.code"},
		{`{"expiry":{"mode":"linger"}}`, "expiry.mode"},
		{`{"expiry":{"mode":"finish","warn_seconds":10}}`, "expiry.warn_seconds"},
		{`{"prompts":{"Bad":"/x.wav"}}`, "prompts"},
		{`{"colour":"blue"}`, "colour"},
	}
	for _, tc := range tests {
		r := a.do("PUT", "/v1/pools/courier", tc.body)
		if r.status != 400 {
			t.Fatalf("%s: status %d: %s", tc.body, r.status, r.body)
		}
		if e := r.errorOf(t); e.Code != "invalid_field" || e.Field != tc.field {
			t.Fatalf("%s: error %+v, want field %s", tc.body, e, tc.field)
		}
	}
	if got := a.do("GET", "/v1/pools/courier", "").body; string(got) != string(good) {
		t.Fatalf("refused PUTs changed the pool:\n%s\n%s", good, got)
	}
	if r := a.do("PUT", "/v1/pools/bad.name", `{}`); r.status != 400 || r.errorOf(t).Field != "pool" {
		t.Fatalf("bad pool name: %d %s", r.status, r.body)
	}
}

func TestDecodePoolSettings(t *testing.T) {
	s, err := DecodePoolSettings([]byte(`{"extension_length":5,"expiry":{"mode":"finish"}}`))
	if err != nil || s.ExtensionLength != 5 || s.Expiry.Mode != store.ExpiryFinish {
		t.Fatalf("= %+v, %v", s, err)
	}
	for _, c := range []struct{ doc, want string }{
		{`{"extension_length":0.5}`, "extension_length"},
		{`{"unknown_caller":{"cod":404}}`, "cod"},
		{`{} {}`, "after the JSON object"},
		{`{"expiry":{"warn_seconds":7200}}`, "expiry.warn_seconds"},
	} {
		if _, err := DecodePoolSettings([]byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v, want an error naming %s", c.doc, err, c.want)
		}
	}
}

func TestNumberDisableDelete(t *testing.T) {
	a := newTestAPI(t)
	a.addPool("default", x1, x2)
	r := a.do("POST", "/v1/pools/default/numbers/"+x1+"/disable", "")
	var info store.NumberInfo
	if err := json.Unmarshal(r.body, &info); err != nil || r.status != 200 || !info.Disabled || info.Number != x1 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	// Not allocated, not bindable by name.
	for i := range 10 {
		b := a.do("POST", "/v1/bindings", fmt.Sprintf(`{"a":"1380000%04d","b":"1390000%04d","ttl_seconds":60}`, i, i)).binding(t)
		if b.X != x2 {
			t.Fatalf("binding on %s, the disabled number", b.X)
		}
	}
	r = a.do("POST", "/v1/bindings", `{"a":"13700000001","b":"13700000002","x":"`+x1+`","ttl_seconds":60}`)
	if r.status != 409 || r.errorOf(t).Code != "number_disabled" {
		t.Fatalf("binding on the disabled x: %d %s", r.status, r.body)
	}
	if r := a.do("POST", "/v1/pools/default/numbers/"+x1+"/enable", ""); r.status != 200 {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	// x2 carries bindings: deleting it is refused; x1 is idle and goes.
	steps := []struct {
		method, path string
		status       int
		code         string
	}{
		{"DELETE", "/v1/pools/default/numbers/" + x2, 409, "number_in_use"},
		{"DELETE", "/v1/pools/default/numbers/8617000000099", 404, "not_found"},
		{"DELETE", "/v1/pools/other/numbers/" + x1, 404, "not_found"},
		{"DELETE", "/v1/pools/default/numbers/abc", 400, "invalid_field"},
		{"POST", "/v1/pools/default/numbers/8617000000099/disable", 404, "not_found"},
		{"DELETE", "/v1/pools/default/numbers/+" + x1, 204, ""},
		{"DELETE", "/v1/pools/default/numbers/" + x1, 404, "not_found"},
	}
	for _, s := range steps {
		r := a.do(s.method, s.path, "")
		if r.status != s.status {
			t.Fatalf("%s %s: %d %s", s.method, s.path, r.status, r.body)
		}
		if s.code != "" && r.errorOf(t).Code != s.code {
			t.Fatalf("%s %s: %s", s.method, s.path, r.body)
		}
	}
	if p := poolInfo(t, a, "default"); p.Size != 1 || p.Bindings != 10 {
		t.Fatalf("pool %+v", p)
	}
}

func TestGetPoolPages(t *testing.T) {
	a := newTestAPI(t)
	var numbers []string
	for i := range 25 {
		numbers = append(numbers, fmt.Sprintf(`"86170000001%02d"`, i))
	}
	if r := a.do("POST", "/v1/pools/big/numbers", `{"numbers":[`+strings.Join(numbers, ",")+`],"area":"010"}`); r.status != 200 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	var got []string
	after := ""
	for range 10 {
		r := a.do("GET", "/v1/pools/big?numbers_limit=10&numbers_after="+after, "")
		var p poolResponse
		if err := json.Unmarshal(r.body, &p); err != nil || r.status != 200 {
			t.Fatalf("GET: %d %s", r.status, r.body)
		}
		if p.Size != 25 || len(p.Areas) != 1 || p.Areas[0].Idle != 25 {
			t.Fatalf("pool %+v", p)
		}
		for _, n := range p.Numbers {
			got = append(got, `"`+n.Number+`"`)
		}
		if p.NumbersNext == "" {
			break
		}
		after = p.NumbersNext
	}
	if strings.Join(got, ",") != strings.Join(numbers, ",") {
		t.Fatalf("paged %v", got)
	}
	for _, q := range []string{"numbers_limit=0", "numbers_limit=1001", "numbers_limit=x", "numbers_after=abc", "page=2", "numbers_limit=1&numbers_limit=2"} {
		r := a.do("GET", "/v1/pools/big?"+q, "")
		if r.status != 400 || r.errorOf(t).Code != "invalid_field" {
			t.Fatalf("?%s: %d %s", q, r.status, r.body)
		}
	}
}

// TestPutPoolPromptsPlayAtOnce: with the engine's prompts behind it, a PUT
// loads the pool's recordings before it stores them, so the next call
// plays them; a file that cannot be played is a 400 on "prompts" and
// changes neither the store nor what plays.
func TestPutPoolPromptsPlayAtOnce(t *testing.T) {
	prompts, err := ivr.LoadPrompts(os.DirFS("../testdata/prompts"), "en")
	if err != nil {
		t.Fatal(err)
	}
	a := newTestAPI(t, WithPrompts(prompts))
	sound := func(pool string) *media.Sound {
		t.Helper()
		s, err := prompts.Sound(pool, ivr.PromptGoodbye)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	defaults := sound("nobody")

	own := `{"prompts":{"` + string(ivr.PromptGoodbye) + `":"../testdata/prompts/zh/goodbye.wav"}}`
	if r := a.do("PUT", "/v1/pools/courier", own); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	mine := sound("courier")
	if mine == defaults {
		t.Fatal("after the PUT the pool still plays the default goodbye")
	}
	stored := a.do("GET", "/v1/pools/courier", "").body

	for _, body := range []string{
		`{"prompts":{"` + string(ivr.PromptGoodbye) + `":"../testdata/prompts/zh/no-such.wav"}}`,
		`{"prompts":{"no_such_prompt":"../testdata/prompts/zh/goodbye.wav"}}`,
	} {
		r := a.do("PUT", "/v1/pools/courier", body)
		if r.status != 400 || r.errorOf(t).Field != "prompts" {
			t.Fatalf("%s: %d %s, want 400 on prompts", body, r.status, r.body)
		}
		if got := a.do("GET", "/v1/pools/courier", "").body; string(got) != string(stored) {
			t.Fatalf("%s: a refused PUT changed the stored settings:\n%s\n%s", body, stored, got)
		}
		if sound("courier") != mine {
			t.Fatalf("%s: a refused PUT changed what the pool plays", body)
		}
	}

	if r := a.do("PUT", "/v1/pools/courier", `{}`); r.status != http.StatusOK {
		t.Fatalf("PUT {}: %d %s", r.status, r.body)
	}
	if sound("courier") != defaults {
		t.Fatal("after PUT {} the pool does not play the defaults again")
	}
}
