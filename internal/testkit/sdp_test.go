package testkit

import (
	"fmt"
	"slices"
	"testing"
)

func TestAudioAddr(t *testing.T) {
	tests := []struct {
		name, sdp string
		want      string // "" means an error is expected
	}{
		{"session c=", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n", "127.0.0.1:4000"},
		{"media c= wins", "v=0\nc=IN IP4 127.0.0.1\nm=audio 4000 RTP/AVP 0\nc=IN IP4 127.0.0.2\n", "127.0.0.2:4000"},
		{"video first", "v=0\nc=IN IP4 127.0.0.1\nm=video 5000 RTP/AVP 96\nm=audio 4000 RTP/AVP 0\n", "127.0.0.1:4000"},
		{"second audio ignored", "v=0\nc=IN IP4 127.0.0.1\nm=audio 4000 RTP/AVP 0\nm=audio 6000 RTP/AVP 0\nc=IN IP4 127.0.0.9\n", "127.0.0.1:4000"},
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
			got, err := AudioAddr([]byte(tt.sdp))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestMediaPortsAndRTCP(t *testing.T) {
	tests := []struct {
		name, sdp string
		ports     []int
		conns     []string
		rtcp      int // 0: none
		bad       bool
	}{
		{"one stream", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\n", []int{4000}, []string{"c=IN IP4 127.0.0.1"}, 4001, false},
		{"two streams, media c=", "v=0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 127.0.0.2\nm=video 0 RTP/AVP 96\na=rtcp:5001 IN IP4 127.0.0.2\n", []int{4000, 0}, []string{"c=IN IP4 127.0.0.2"}, 5001, false},
		{"no rtcp", "v=0\nm=audio 4000 RTP/AVP 0\n", []int{4000}, nil, 0, false},
		{"bad m=", "v=0\nm=audio x RTP/AVP 0\n", nil, nil, 0, true},
		{"short m=", "v=0\nm=audio\n", nil, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ports, conns, err := MediaPorts([]byte(tt.sdp))
			if tt.bad {
				if err == nil {
					t.Fatalf("got %v %v, want an error", ports, conns)
				}
				return
			}
			if err != nil || !slices.Equal(ports, tt.ports) || !slices.Equal(conns, tt.conns) {
				t.Fatalf("got %v %q %v, want %v %q", ports, conns, err, tt.ports, tt.conns)
			}
			rtcp, err := RTCPPort([]byte(tt.sdp))
			if tt.rtcp == 0 {
				if err == nil {
					t.Fatalf("RTCP port %d, want an error", rtcp)
				}
				return
			}
			if err != nil || rtcp != tt.rtcp {
				t.Fatalf("RTCP port %d %v, want %d", rtcp, err, tt.rtcp)
			}
		})
	}
}

func TestOffer(t *testing.T) {
	tests := []struct {
		name  string
		offer Offer
		want  string
	}{
		{"defaults", Offer{Port: 4000}, "v=0\r\no=- 0 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
			"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"},
		{"everything", Offer{User: "a", Session: 7, IP: "127.0.0.5", Port: 4000, RTCP: 4003, Formats: []int{0, 8, 101, 96}, Attrs: []string{"fmtp:101 0-16", "sendrecv"}},
			"v=0\r\no=a 7 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\n" +
				"m=audio 4000 RTP/AVP 0 8 101 96\r\na=rtcp:4003\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
				"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.offer.SDP()
			if string(got) != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
			}
			ap, err := AudioAddr(got)
			want := fmt.Sprintf("%s:%d", tt.offer.IP, tt.offer.Port)
			if tt.offer.IP == "" {
				want = fmt.Sprintf("127.0.0.1:%d", tt.offer.Port)
			}
			if err != nil || ap.String() != want {
				t.Fatalf("the offer reads back as %v %v, want %s", ap, err, want)
			}
		})
	}
}
