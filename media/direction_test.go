package media

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestDirections(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	audio := "m=audio 4000 RTP/AVP 0\r\n"
	video := "m=video 4002 RTP/AVP 96\r\n"
	tests := []struct {
		name string
		sdp  string
		want []Direction
	}{
		{"default", head + audio, []Direction{DirSendRecv}},
		{"media sendonly", head + audio + "a=sendonly\r\n", []Direction{DirSend}},
		{"media recvonly", head + audio + "a=recvonly\r\n", []Direction{DirRecv}},
		{"media inactive", head + audio + "a=inactive\r\n", []Direction{DirInactive}},
		{"session level", head + "a=sendonly\r\n" + audio + video + "a=sendrecv\r\n", []Direction{DirSend, DirSendRecv}},
		{"media overrides session", head + "a=inactive\r\n" + audio + "a=sendrecv\r\n", []Direction{DirSendRecv}},
		{"rejected stream", head + audio + "m=video 0 RTP/AVP 96\r\na=sendrecv\r\n", []Direction{DirSendRecv, DirInactive}},
		{"null address hold", head + "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n", []Direction{DirSend}},
		{"null address recvonly", head + "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n", []Direction{DirInactive}},
		{"lookalike attribute", head + audio + "a=sendonlyx\r\n", []Direction{DirSendRecv}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := directions([]byte(tc.sdp), netip.IPv4Unspecified())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Directions = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := directions([]byte("v=0\r\nm=audio\r\n"), netip.IPv4Unspecified()); !errors.Is(err, ErrMalformedSDP) {
		t.Fatalf("malformed SDP: %v", err)
	}
}
