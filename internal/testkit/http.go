package testkit

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// HTTPServer serves h on a fresh 127.0.0.1 port until the test ends.
// httptest.NewServer falls back to [::1] when 127.0.0.1 cannot be bound and
// listens wherever -httptest.serve says; the tests' rule is 127.0.0.1 and a
// kernel-chosen port, always.
func HTTPServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
