package dtmfpcap

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTsharkDecodes has Wireshark's dissectors, which share no code with
// this package, read a file built here: every packet must decode as RTP of
// one stream, the events as RFC 4733 telephone-events naming the keys in
// order, each begun with the marker bit and ended by three E packets.
func TestTsharkDecodes(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (Debian package tshark): the file is checked by the Go reader only")
	}
	path, sent := writeFile(t, "1234#*0", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Payload type 101 is the dissector's default telephone-event type;
	// it is named anyway so that a changed default does not hide events.
	out, err := exec.CommandContext(ctx, tshark, "-n", "-r", path,
		"-d", "udp.port=="+strconv.Itoa(DefaultDstPort)+",rtp",
		"-o", "rtpevent.event_payload_type_value:101",
		"-T", "fields", "-E", "separator=;",
		"-e", "rtp.version", "-e", "rtp.p_type", "-e", "rtp.marker", "-e", "rtp.seq", "-e", "rtp.timestamp",
		"-e", "rtpevent.event_id", "-e", "rtpevent.end_of_event", "-e", "rtpevent.duration",
	).Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(sent) {
		t.Fatalf("tshark read %d packets, the file has %d", len(lines), len(sent))
	}
	var keys strings.Builder
	ends, audio := 0, 0
	for i, line := range lines {
		f := strings.Split(line, ";")
		if len(f) != 8 || f[0] != "2" {
			t.Fatalf("packet %d does not decode as RTP: %q", i, line)
		}
		switch f[1] {
		case "0":
			audio++
			if f[5] != "" {
				t.Fatalf("packet %d: audio decoded as an event: %q", i, line)
			}
		case "101":
			if f[5] == "" {
				t.Fatalf("packet %d: payload type 101 not decoded as an event: %q", i, line)
			}
			code, err := strconv.Atoi(f[5])
			if err != nil || code > 15 {
				t.Fatalf("packet %d: event %q", i, f[5])
			}
			marker, end := f[2] == "1" || f[2] == "True", f[6] == "1" || f[6] == "True"
			switch {
			case marker && keys.Len() > 0 && ends != 3:
				t.Fatalf("packet %d: a new event after %d end packets of the last", i, ends)
			case marker:
				keys.WriteByte(keyOfCode[code])
				ends = 0
			case keys.Len() == 0 || keyOfCode[code] != keys.String()[keys.Len()-1] || ends == 3:
				t.Fatalf("packet %d: event %d continues no event begun with the marker", i, code)
			}
			if end {
				ends++
			} else if ends != 0 {
				t.Fatalf("packet %d: an update after an end packet", i)
			}
		default:
			t.Fatalf("packet %d: payload type %s", i, f[1])
		}
	}
	if got := keys.String(); got != "1234#*0" || ends != 3 || audio == 0 {
		t.Fatalf("tshark read keys %q (last event with %d end packets, %d audio packets)", got, ends, audio)
	}
}
