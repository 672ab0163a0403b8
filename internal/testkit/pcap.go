package testkit

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// WritePCAP writes UDP datagrams from src to dst, gap apart starting at
// start, as a classic libpcap file (Ethernet frames, IPv4): what SIPp's
// play_pcap_audio replays (it takes the payloads and their pacing, and sends
// them from and to the call's own media addresses). For a test that builds
// the RFC 4733 packets a phone sends for a key (media.EventWriter) and has
// SIPp send them.
func WritePCAP(w io.Writer, src, dst netip.AddrPort, start time.Time, gap time.Duration, datagrams [][]byte) error {
	if !src.Addr().Is4() || !dst.Addr().Is4() {
		return fmt.Errorf("pcap: IPv4 addresses only, got %v -> %v", src, dst)
	}
	le := binary.LittleEndian
	// Global header: magic, version 2.4, zone 0, sigfigs 0, snaplen, Ethernet.
	hdr := make([]byte, 0, 24)
	hdr = le.AppendUint32(hdr, 0xa1b2c3d4)
	hdr = le.AppendUint16(hdr, 2)
	hdr = le.AppendUint16(hdr, 4)
	hdr = le.AppendUint32(hdr, 0)
	hdr = le.AppendUint32(hdr, 0)
	hdr = le.AppendUint32(hdr, 65535)
	hdr = le.AppendUint32(hdr, 1)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for i, d := range datagrams {
		if len(d) > 1472 {
			return fmt.Errorf("pcap: datagram %d of %d bytes does not fit one Ethernet frame", i, len(d))
		}
		frame := ethernetUDP(src, dst, uint16(i), d)
		at := start.Add(time.Duration(i) * gap)
		rec := make([]byte, 0, 16+len(frame))
		rec = le.AppendUint32(rec, uint32(at.Unix()))
		rec = le.AppendUint32(rec, uint32(at.Nanosecond()/1000))
		rec = le.AppendUint32(rec, uint32(len(frame)))
		rec = le.AppendUint32(rec, uint32(len(frame)))
		if _, err := w.Write(append(rec, frame...)); err != nil {
			return err
		}
	}
	return nil
}

// ethernetUDP frames payload as Ethernet II / IPv4 / UDP with a correct IP
// header checksum (UDP checksum 0: none, which IPv4 allows).
func ethernetUDP(src, dst netip.AddrPort, id uint16, payload []byte) []byte {
	be := binary.BigEndian
	f := make([]byte, 0, 14+20+8+len(payload))
	f = append(f, 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01) // locally administered MACs
	f = be.AppendUint16(f, 0x0800)
	ip := len(f)
	f = append(f, 0x45, 0)
	f = be.AppendUint16(f, uint16(20+8+len(payload)))
	f = be.AppendUint16(f, id)
	f = append(f, 0x40, 0, 64, 17, 0, 0) // don't fragment, TTL 64, UDP, checksum later
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	f = append(f, s4[:]...)
	f = append(f, d4[:]...)
	var sum uint32
	for i := ip; i < ip+20; i += 2 {
		sum += uint32(be.Uint16(f[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	be.PutUint16(f[ip+10:], ^uint16(sum))
	f = be.AppendUint16(f, src.Port())
	f = be.AppendUint16(f, dst.Port())
	f = be.AppendUint16(f, uint16(8+len(payload)))
	f = be.AppendUint16(f, 0)
	return append(f, payload...)
}
