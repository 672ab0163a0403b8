package media

import "sync/atomic"

// Stats is a session's traffic, summed over its media streams.
type Stats struct {
	AToB Flow `json:"a_to_b"` // sent by A, forwarded to B
	BToA Flow `json:"b_to_a"` // sent by B, forwarded to A
}

// Flow counts one direction. Bytes are UDP payload bytes.
type Flow struct {
	RTPPackets  uint64 `json:"rtp_packets"`
	RTPBytes    uint64 `json:"rtp_bytes"`
	RTCPPackets uint64 `json:"rtcp_packets"`
	RTCPBytes   uint64 `json:"rtcp_bytes"`
	// Dropped counts packets received from the sender and not forwarded:
	// not RTP/RTCP, RTCP that does not frame (SRTCP included) or holds
	// nothing but APP packets, no known destination yet, or a failed send.
	Dropped uint64 `json:"dropped"`
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
