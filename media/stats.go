package media

import "sync/atomic"

// Stats is a session's traffic, summed over its media streams.
type Stats struct {
	AToB Flow // sent by A, forwarded to B
	BToA Flow // sent by B, forwarded to A
}

// Flow counts one direction. Bytes are UDP payload bytes.
type Flow struct {
	RTPPackets, RTPBytes   uint64
	RTCPPackets, RTCPBytes uint64
	// Dropped counts packets received from the sender and not forwarded:
	// not RTP/RTCP, no known destination yet, or a failed send.
	Dropped uint64
}

// flowCounters is the lock-free form of Flow, written only by the two
// goroutines reading the sender-facing sockets of one stream.
type flowCounters struct {
	packets [2]atomic.Uint64 // by kind
	bytes   [2]atomic.Uint64
	dropped atomic.Uint64
}

func (c *flowCounters) addTo(f *Flow) {
	f.RTPPackets += c.packets[kindRTP].Load()
	f.RTPBytes += c.bytes[kindRTP].Load()
	f.RTCPPackets += c.packets[kindRTCP].Load()
	f.RTCPBytes += c.bytes[kindRTCP].Load()
	f.Dropped += c.dropped.Load()
}
