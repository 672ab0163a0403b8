package main

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestDemo runs the whole demo over each transport: engine, API, two
// phones, a masked call with audio both ways, and a hang-up. Every check it
// prints must pass.
func TestDemo(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			var out bytes.Buffer
			log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
			cfg := demoConfig{LogFormat: "json", LogLevel: zerolog.WarnLevel, Packets: 25, Transport: transport, Timeout: 15 * time.Second}
			err := demo(context.Background(), cfg, log, &out)
			t.Logf("demo report:\n%s", out.String())
			if err != nil {
				t.Fatalf("demo: %v", err)
			}
			for _, want := range []string{"DEMO PASSED", "A sent 25", "B sent 25", "P-Asserted-Identity", "A hung up", "SIP over " + transport} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q", want)
				}
			}
			if strings.Contains(out.String(), "FAIL") {
				t.Error("report has a failed check")
			}
		})
	}
}

// TestDemoTimesOut: a demo that cannot finish in time fails, and says so,
// rather than hang.
func TestDemoTimesOut(t *testing.T) {
	var out bytes.Buffer
	cfg := demoConfig{Packets: 1, Transport: "udp", Timeout: time.Nanosecond}
	start := time.Now()
	err := demo(context.Background(), cfg, zerolog.Nop(), &out)
	if err == nil {
		t.Fatalf("demo passed with a 1ns timeout:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "DEMO FAILED") {
		t.Errorf("report does not say it failed:\n%s", out.String())
	}
	if time.Since(start) > time.Minute {
		t.Errorf("demo took %s to give up", time.Since(start))
	}
}

func TestSDPMediaAddr(t *testing.T) {
	tests := []struct {
		name, sdp string
		want      string // "" means an error is expected
	}{
		{"session c=", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n", "127.0.0.1:4000"},
		{"media c= wins", "v=0\nc=IN IP4 127.0.0.1\nm=audio 4000 RTP/AVP 0\nc=IN IP4 127.0.0.2\n", "127.0.0.2:4000"},
		{"video first", "v=0\nc=IN IP4 127.0.0.1\nm=video 5000 RTP/AVP 96\nm=audio 4000 RTP/AVP 0\n", "127.0.0.1:4000"},
		{"IPv6", "v=0\nc=IN IP6 ::1\nm=audio 4000 RTP/AVP 0\n", "[::1]:4000"},
		{"no audio", "v=0\nc=IN IP4 127.0.0.1\nm=video 5000 RTP/AVP 96\n", ""},
		{"no c=", "v=0\nm=audio 4000 RTP/AVP 0\n", ""},
		{"bad port", "v=0\nc=IN IP4 127.0.0.1\nm=audio x RTP/AVP 0\n", ""},
		{"bad c=", "v=0\nc=IN IP4 nowhere\nm=audio 4000 RTP/AVP 0\n", ""},
		{"rejected stream", "v=0\nc=IN IP4 127.0.0.1\nm=audio 0 RTP/AVP 0\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sdpMediaAddr([]byte(tt.sdp))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil || got != netip.MustParseAddrPort(tt.want) {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}
