// Package dtmfpcap builds what a phone sends when someone keys digits on
// it: one RTP stream of PCMU silence with RFC 4733 telephone-events in it,
// written as a classic libpcap capture (Ethernet, IPv4, UDP) that SIPp's
// play_pcap_audio replays into a call. The SIPp courier scenario of
// scripts/sipp-axe.sh keys an extension this way.
//
// It is a test tool: it writes the few bytes of RTP (RFC 3550 section 5.1)
// and of the event payload (RFC 4733 section 2.3) itself, so that what the
// engine reads is checked against an encoder that is not the engine's own.
package dtmfpcap
