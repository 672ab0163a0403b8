// Package tracetest replays readable SIP traces against a running xbridge
// engine. A trace (format: testdata/traces/README.md) says what the carrier
// and the trunk send and what each must receive; the Replayer plays both
// from two UDP sockets, absorbs 100 Trying and retransmissions, and fails on
// anything else that was not expected, showing what was expected and what
// arrived. Setup (bindings) is left to the test through the Setup hooks.
package tracetest
