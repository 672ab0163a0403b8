//go:build pprof

package main

import (
	"net"
	"net/http"
	_ "net/http/pprof" // the profiles, on their own listener
	"os"
)

// A binary built with -tags pprof serves net/http/pprof on the loopback
// address in XBRIDGE_PPROF (for example 127.0.0.1:6060), apart from the
// API: profiles of the engine under load, never in a release build.
func init() {
	addr := os.Getenv("XBRIDGE_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		panic("XBRIDGE_PPROF must be a loopback host:port, got " + addr)
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
