package dtmfpcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeFile builds the stream for keys and writes it as a pcap file in the
// test's temporary directory, as scripts/sipp-axe.sh does before a run.
func writeFile(t *testing.T, keys string, popts []PcapOption, opts ...Option) (string, []Packet) {
	t.Helper()
	packets, err := Keys(keys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePcap(f, packets, popts...); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, packets
}

// readPcap parses a classic pcap file of Ethernet/IPv4/UDP frames by the
// formats' own definitions, checking every field and checksum, and returns
// each UDP payload with its time since the first record.
func readPcap(t *testing.T, path string, src, dst netip.AddrPort, start time.Time) []Packet {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le, be := binary.LittleEndian, binary.BigEndian
	if len(b) < 24 {
		t.Fatalf("%d bytes: no file header", len(b))
	}
	if m, maj, mnr := le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]); m != 0xa1b2c3d4 || maj != 2 || mnr != 4 {
		t.Fatalf("magic %x version %d.%d, want a1b2c3d4 2.4", m, maj, mnr)
	}
	if zone, sig, snap, link := le.Uint32(b[8:]), le.Uint32(b[12:]), le.Uint32(b[16:]), le.Uint32(b[20:]); zone != 0 || sig != 0 || snap != 65535 || link != 1 {
		t.Fatalf("thiszone %d sigfigs %d snaplen %d link type %d", zone, sig, snap, link)
	}
	b = b[24:]
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	var out []Packet
	for id := 0; len(b) > 0; id++ {
		if len(b) < 16 {
			t.Fatalf("record %d: %d bytes left, no record header", id, len(b))
		}
		sec, usec, incl, orig := le.Uint32(b), le.Uint32(b[4:]), int(le.Uint32(b[8:])), int(le.Uint32(b[12:]))
		if usec >= 1e6 || incl != orig || incl > len(b)-16 {
			t.Fatalf("record %d: usec %d, captured %d of %d, %d bytes left", id, usec, incl, orig, len(b)-16)
		}
		fr := b[16 : 16+incl]
		b = b[16+incl:]
		at := time.Unix(int64(sec), int64(usec)*1000).Sub(start)
		if len(fr) < 14+20+8 {
			t.Fatalf("record %d: %d-byte frame", id, len(fr))
		}
		if !bytes.Equal(fr[0:6], macDst[:]) || !bytes.Equal(fr[6:12], macSrc[:]) || be.Uint16(fr[12:]) != 0x0800 {
			t.Fatalf("record %d: Ethernet header % x", id, fr[:14])
		}
		ip := fr[14:]
		if ip[0] != 0x45 || ip[1] != 0 || int(be.Uint16(ip[2:])) != len(ip) || int(be.Uint16(ip[4:])) != id ||
			be.Uint16(ip[6:]) != 0x4000 || ip[8] != 64 || ip[9] != 17 {
			t.Fatalf("record %d: IPv4 header % x", id, ip[:20])
		}
		if checksum(0, ip[:20]) != 0 {
			t.Fatalf("record %d: IPv4 header checksum does not verify", id)
		}
		if !bytes.Equal(ip[12:16], s4[:]) || !bytes.Equal(ip[16:20], d4[:]) {
			t.Fatalf("record %d: %v -> %v", id, ip[12:16], ip[16:20])
		}
		udp := ip[20:]
		if be.Uint16(udp) != src.Port() || be.Uint16(udp[2:]) != dst.Port() || int(be.Uint16(udp[4:])) != len(udp) {
			t.Fatalf("record %d: UDP header % x (%d bytes)", id, udp[:8], len(udp))
		}
		pseudo := append(append(append([]byte{}, ip[12:20]...), 0, 17), udp[4:6]...)
		if be.Uint16(udp[6:]) == 0 || checksum(sum16(0, pseudo), udp) != 0 {
			t.Fatalf("record %d: UDP checksum %04x does not verify", id, be.Uint16(udp[6:]))
		}
		out = append(out, Packet{At: at, RTP: udp[8:]})
	}
	return out
}

func TestWritePcapReadsBack(t *testing.T) {
	lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		popts    []PcapOption
		src, dst netip.AddrPort
		start    time.Time
	}{
		{"defaults", nil, netip.AddrPortFrom(lo, 40000), netip.AddrPortFrom(lo, DefaultDstPort), start},
		{"addresses and start", []PcapOption{
			WithAddrs(netip.MustParseAddrPort("127.0.0.2:16384"), netip.MustParseAddrPort("127.0.0.3:20000")),
			WithCaptureStart(time.Date(2030, 5, 6, 7, 8, 9, 123456000, time.UTC)),
		}, netip.MustParseAddrPort("127.0.0.2:16384"), netip.MustParseAddrPort("127.0.0.3:20000"),
			time.Date(2030, 5, 6, 7, 8, 9, 123456000, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, sent := writeFile(t, "1234#", tc.popts)
			got := readPcap(t, path, tc.src, tc.dst, tc.start)
			if len(got) != len(sent) {
				t.Fatalf("%d records, want %d", len(got), len(sent))
			}
			for i := range sent {
				if got[i].At != sent[i].At || !bytes.Equal(got[i].RTP, sent[i].RTP) {
					t.Fatalf("record %d: at %s, % x; want %s, % x", i, got[i].At, got[i].RTP, sent[i].At, sent[i].RTP)
				}
			}
			if keys := keysOf(readStream(t, got, 16000, 101, true)); keys != "1234#" {
				t.Fatalf("the file keys %q", keys)
			}
		})
	}
}

func TestWritePcapRejects(t *testing.T) {
	v6 := netip.MustParseAddrPort("[::1]:6000")
	v4 := netip.MustParseAddrPort("127.0.0.1:6000")
	packets, err := Keys("1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		packets []Packet
		opts    []PcapOption
	}{
		{"IPv6 source", packets, []PcapOption{WithAddrs(v6, v4)}},
		{"IPv6 destination", packets, []PcapOption{WithAddrs(v4, v6)}},
		{"oversized packet", []Packet{{RTP: make([]byte, 1501)}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WritePcap(&buf, tc.packets, tc.opts...)
			if !errors.Is(err, ErrBadOption) {
				t.Fatalf("err %v, want ErrBadOption", err)
			}
			if tc.name != "oversized packet" && buf.Len() != 0 {
				t.Fatalf("%d bytes written before the refusal", buf.Len())
			}
		})
	}
}

// TestChecksum against RFC 1071's worked example (section 3): the words
// 0001 f203 f4f5 f6f7 sum to ddf2, whose complement is 220d.
func TestChecksum(t *testing.T) {
	if got := checksum(0, []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != 0x220d {
		t.Fatalf("checksum %04x, want 220d", got)
	}
	if got := checksum(0, []byte{0x01}); got != 0xfeff {
		t.Fatalf("odd length: %04x, want feff", got)
	}
}
