package dtmfpcap

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// The classic libpcap file format (not pcapng): a 24-byte file header, then
// per packet a 16-byte record header and the frame. SIPp's play_pcap_audio
// reads Ethernet (link type 1) or Linux cooked captures of UDP over IPv4 or
// IPv6; this writes Ethernet and IPv4.
const (
	pcapMagic     = 0xa1b2c3d4 // microsecond timestamps
	pcapVersionHi = 2
	pcapVersionLo = 4
	pcapSnapLen   = 65535
	linkEthernet  = 1
	etherIPv4     = 0x0800
	etherLen      = 14
	ipv4Len       = 20
	udpLen        = 8
	ipTTL         = 64
	ipProtoUDP    = 17
	ipDontFrag    = 0x4000
	maxFrame      = etherLen + ipv4Len + udpLen + 1500
)

// Locally administered MAC addresses: the frames come from no real card.
var (
	macSrc = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	macDst = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

type pcapConfig struct {
	src, dst netip.AddrPort
	start    time.Time
}

// PcapOption changes how WritePcap frames the packets.
type PcapOption func(*pcapConfig)

// WithAddrs sets the UDP source and destination (default 127.0.0.1:40000 to
// 127.0.0.1:6000). SIPp replaces both with the call's media addresses; a
// decoder such as tshark is told to read the destination port as RTP.
func WithAddrs(src, dst netip.AddrPort) PcapOption {
	return func(c *pcapConfig) { c.src, c.dst = src, dst }
}

// WithCaptureStart sets the capture time of the first packet (default
// 2026-01-01T00:00:00Z, fixed so that a stream always gives the same file).
func WithCaptureStart(t time.Time) PcapOption { return func(c *pcapConfig) { c.start = t } }

// DefaultDstPort is the UDP destination port of the frames unless
// WithAddrs says otherwise.
const DefaultDstPort = 6000

// WritePcap writes packets as a libpcap capture of UDP datagrams, each
// stamped with its time in the stream.
func WritePcap(w io.Writer, packets []Packet, opts ...PcapOption) error {
	c := pcapConfig{
		src:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 40000),
		dst:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), DefaultDstPort),
		start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, o := range opts {
		o(&c)
	}
	if !c.src.Addr().Is4() || !c.dst.Addr().Is4() {
		return fmt.Errorf("%w: addresses %s and %s must be IPv4", ErrBadOption, c.src, c.dst)
	}
	hdr := make([]byte, 0, 24)
	hdr = binary.LittleEndian.AppendUint32(hdr, pcapMagic)
	hdr = binary.LittleEndian.AppendUint16(hdr, pcapVersionHi)
	hdr = binary.LittleEndian.AppendUint16(hdr, pcapVersionLo)
	hdr = binary.LittleEndian.AppendUint32(hdr, 0) // thiszone: UTC
	hdr = binary.LittleEndian.AppendUint32(hdr, 0) // sigfigs
	hdr = binary.LittleEndian.AppendUint32(hdr, pcapSnapLen)
	hdr = binary.LittleEndian.AppendUint32(hdr, linkEthernet)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	buf := make([]byte, 0, 16+maxFrame)
	for i, p := range packets {
		if len(p.RTP) > maxFrame-etherLen-ipv4Len-udpLen {
			return fmt.Errorf("%w: packet %d is %d bytes", ErrBadOption, i, len(p.RTP))
		}
		buf = appendRecord(buf[:0], c, uint16(i), p)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// appendRecord appends one pcap record: its header and an Ethernet frame
// holding an IPv4 datagram (identification id) holding the UDP datagram.
func appendRecord(b []byte, c pcapConfig, id uint16, p Packet) []byte {
	at := c.start.Add(p.At)
	udpTotal := udpLen + len(p.RTP)
	ipTotal := ipv4Len + udpTotal
	frameLen := etherLen + ipTotal
	b = binary.LittleEndian.AppendUint32(b, uint32(at.Unix()))
	b = binary.LittleEndian.AppendUint32(b, uint32(at.Nanosecond()/1000))
	b = binary.LittleEndian.AppendUint32(b, uint32(frameLen)) // captured
	b = binary.LittleEndian.AppendUint32(b, uint32(frameLen)) // on the wire

	b = append(b, macDst[:]...)
	b = append(b, macSrc[:]...)
	b = binary.BigEndian.AppendUint16(b, etherIPv4)

	ip := len(b)
	src, dst := c.src.Addr().As4(), c.dst.Addr().As4()
	b = append(b, 0x45, 0) // version 4, 5 words; no DSCP
	b = binary.BigEndian.AppendUint16(b, uint16(ipTotal))
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, ipDontFrag)
	b = append(b, ipTTL, ipProtoUDP, 0, 0) // checksum below
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	binary.BigEndian.PutUint16(b[ip+10:], checksum(0, b[ip:ip+ipv4Len]))

	udp := len(b)
	b = binary.BigEndian.AppendUint16(b, c.src.Port())
	b = binary.BigEndian.AppendUint16(b, c.dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(udpTotal))
	b = append(b, 0, 0) // checksum below
	b = append(b, p.RTP...)
	// The UDP checksum covers a pseudo-header of the addresses, protocol and
	// length (RFC 768); 0 means "none", so a sum of 0 is sent as 0xffff.
	pseudo := make([]byte, 0, 12)
	pseudo = append(pseudo, src[:]...)
	pseudo = append(pseudo, dst[:]...)
	pseudo = append(pseudo, 0, ipProtoUDP)
	pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(udpTotal))
	sum := checksum(sum16(0, pseudo), b[udp:])
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(b[udp+6:], sum)
	return b
}

// sum16 adds b as big-endian 16-bit words (an odd last byte padded with
// zero) to the running one's complement sum s.
func sum16(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// checksum is the Internet checksum (RFC 1071) of b, continuing the sum s.
func checksum(s uint32, b []byte) uint16 {
	s = sum16(s, b)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
