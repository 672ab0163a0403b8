package api

import (
	"bufio"
	"bytes"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// docOperations reads "METHOD /path" pairs from the paths section of an
// OpenAPI document written in block style: paths at two spaces of indent,
// methods at four.
func docOperations(t *testing.T, doc []byte) []string {
	t.Helper()
	methods := []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}
	var ops []string
	inPaths, path := false, ""
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case indent == 0:
			inPaths = trimmed == "paths:"
		case !inPaths:
		case indent == 2 && strings.HasPrefix(trimmed, "/") && strings.HasSuffix(trimmed, ":"):
			path = strings.TrimSuffix(trimmed, ":")
		case indent == 4 && path != "":
			if m, ok := strings.CutSuffix(trimmed, ":"); ok && slices.Contains(methods, m) {
				ops = append(ops, strings.ToUpper(m)+" "+path)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("GET", "/v1/openapi.yaml", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("status %d, type %q", r.status, r.header.Get("Content-Type"))
	}
	if !bytes.HasPrefix(r.body, []byte("openapi: 3.1")) {
		t.Fatalf("not an OpenAPI 3.1 document: %.40q", r.body)
	}
	ops := docOperations(t, r.body)
	if len(ops) == 0 {
		t.Fatal("no operations found in the document")
	}

	var served []string
	for _, rt := range routes {
		served = append(served, rt.pattern)
		if !slices.Contains(ops, rt.pattern) {
			t.Errorf("route %q is not in openapi.yaml", rt.pattern)
		}
	}
	// And the other way: every documented operation reaches a handler of
	// the mux (path parameters filled with a sample value).
	mux := New(nil).(*server).mux
	for _, op := range ops {
		if !slices.Contains(served, op) {
			t.Errorf("openapi.yaml documents %q, which is not served", op)
		}
		method, path, _ := strings.Cut(op, " ")
		sample := strings.NewReplacer("{pool}", "default", "{id}", "b1").Replace(path)
		if _, pattern := mux.Handler(httptest.NewRequest(method, sample, nil)); pattern != op {
			t.Errorf("%s %s reaches pattern %q, want %q", method, sample, pattern, op)
		}
	}
	// The parser must see what is there: a route it misses would pass
	// silently otherwise.
	if len(ops) != len(routes) {
		t.Errorf("document has %d operations, the mux serves %d", len(ops), len(routes))
	}
}
