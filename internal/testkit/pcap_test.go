package testkit

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWritePCAP reads the file back by hand (every datagram at its offset
// and time, the IP checksum summing to 0xffff) and, where tshark is
// installed, has it decode the datagrams as RFC 4733 events.
func TestWritePCAP(t *testing.T) {
	src, dst := netip.MustParseAddrPort("127.0.0.1:6000"), netip.MustParseAddrPort("127.0.0.1:7000")
	// Two telephone-event packets of key 5 (payload type 101).
	dgs := [][]byte{
		{0x80, 0xe5, 0, 1, 0, 0, 0, 10, 0, 0, 0, 7, 5, 10, 0, 160},
		{0x80, 0x65, 0, 2, 0, 0, 0, 10, 0, 0, 0, 7, 5, 0x8a, 1, 64},
	}
	start := time.Unix(1700000000, 500000000)
	var buf bytes.Buffer
	if err := WritePCAP(&buf, src, dst, start, 20*time.Millisecond, dgs); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	le, be := binary.LittleEndian, binary.BigEndian
	if le.Uint32(b) != 0xa1b2c3d4 || le.Uint32(b[20:]) != 1 {
		t.Fatalf("global header %x", b[:24])
	}
	off := 24
	for i, d := range dgs {
		sec, usec, n := le.Uint32(b[off:]), le.Uint32(b[off+4:]), int(le.Uint32(b[off+8:]))
		at := start.Add(time.Duration(i) * 20 * time.Millisecond)
		if int64(sec) != at.Unix() || int(usec) != at.Nanosecond()/1000 || n != 42+len(d) {
			t.Fatalf("record %d: %d.%06d, %d bytes", i, sec, usec, n)
		}
		f := b[off+16 : off+16+n]
		var sum uint32
		for j := 14; j < 34; j += 2 {
			sum += uint32(be.Uint16(f[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		if sum != 0xffff || be.Uint16(f[34:]) != 6000 || be.Uint16(f[36:]) != 7000 || !bytes.Equal(f[42:], d) {
			t.Fatalf("record %d: frame %x", i, f)
		}
		off += 16 + n
	}
	if off != len(b) {
		t.Fatalf("%d bytes left over", len(b)-off)
	}
	if err := WritePCAP(&buf, netip.MustParseAddrPort("[::1]:5"), dst, start, 0, nil); err == nil {
		t.Error("IPv6 accepted")
	}

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark not installed: the file was checked by hand only")
		return
	}
	path := filepath.Join(t.TempDir(), "keys.pcap")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-n", "-r", path, "-d", "udp.port==7000,rtp",
		"-o", "rtpevent.event_payload_type_value:101", "-T", "fields", "-e", "rtpevent.event_id", "-e", "rtpevent.end_of_event").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if got := strings.Join(strings.Fields(string(out)), " "); got != "5 0 5 1" && got != "5 False 5 True" {
		t.Fatalf("tshark decodes %q, want key 5 then its end", out)
	}
}
