package media

import "sync/atomic"

// Stats is a session's traffic, summed over its media streams.
type Stats struct {
	AToB Flow `json:"a_to_b"` // sent by A, forwarded to B
	BToA Flow `json:"b_to_a"` // sent by B, forwarded to A
	// PlayedToA and PlayedToB count the RTP packets the engine sent to
	// each side (prompts, tones).
	PlayedToA uint64 `json:"played_to_a"`
	PlayedToB uint64 `json:"played_to_b"`
	// Digits counts the keys the engine decoded from A's telephone-events;
	// DigitsLost those that found the Digits queue full.
	Digits     uint64 `json:"digits"`
	DigitsLost uint64 `json:"digits_lost"`
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
	// Strangers counts packets that arrived on the sender's relay ports
	// from a source the sender's SDP and latch do not allow (someone else,
	// a previous call's party, or anything before the sender's SDP was
	// known); none of them was forwarded.
	Strangers uint64 `json:"dropped_stranger"`
	// Latched counts the sources the sender was latched on (one per stream
	// and socket after each SDP that set or moved its address); Relatched
	// counts latches replaced inside the learning window by a source that
	// matches the SDP better.
	Latched   uint64 `json:"latched"`
	Relatched uint64 `json:"relatched"`
	// Engine counts RTP packets from the sender that the engine took
	// instead of forwarding: while it answered the sender itself (A before
	// B is bridged in) its telephone-events and audio, and the audio a
	// Replace playback (the warning beep) stood in for at the receiver.
	Engine uint64 `json:"engine"`
}

// flowCounters is the lock-free form of Flow, written only by the two
// goroutines reading the sender-facing sockets of one stream.
type flowCounters struct {
	packets   [2]atomic.Uint64 // by kind
	bytes     [2]atomic.Uint64
	dropped   atomic.Uint64
	strangers atomic.Uint64
	latched   atomic.Uint64
	relatched atomic.Uint64
	engine    atomic.Uint64
}

func (c *flowCounters) addTo(f *Flow) {
	f.RTPPackets += c.packets[kindRTP].Load()
	f.RTPBytes += c.bytes[kindRTP].Load()
	f.RTCPPackets += c.packets[kindRTCP].Load()
	f.RTCPBytes += c.bytes[kindRTCP].Load()
	f.Dropped += c.dropped.Load()
	f.Strangers += c.strangers.Load()
	f.Latched += c.latched.Load()
	f.Relatched += c.relatched.Load()
	f.Engine += c.engine.Load()
}

// add sums o into s.
func (s *Stats) add(o Stats) {
	s.AToB.add(o.AToB)
	s.BToA.add(o.BToA)
	s.PlayedToA += o.PlayedToA
	s.PlayedToB += o.PlayedToB
	s.Digits += o.Digits
	s.DigitsLost += o.DigitsLost
}

func (f *Flow) add(o Flow) {
	f.RTPPackets += o.RTPPackets
	f.RTPBytes += o.RTPBytes
	f.RTCPPackets += o.RTCPPackets
	f.RTCPBytes += o.RTCPBytes
	f.Dropped += o.Dropped
	f.Strangers += o.Strangers
	f.Latched += o.Latched
	f.Relatched += o.Relatched
	f.Engine += o.Engine
}
