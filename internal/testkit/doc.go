// Package testkit is the test kit every package's tests share: free ports
// and relay port ranges, SDP reading and minimal offers, an RTP peer,
// audio checks (correlation, finding a prompt, tone power) for what a peer
// heard, a scripted sipgo user agent's plumbing and a log buffer. It holds one of each so that a fix
// to how a test finds a port or reads an SDP is made once.
//
// It imports no package of this module, so that any package's internal
// tests (package media, package sipedge, ...) can use it without a cycle.
// Product code never imports it: the demo's simulated phones keep their own
// paced audio in cmd/xbridge.
package testkit
