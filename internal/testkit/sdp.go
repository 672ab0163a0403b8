package testkit

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// SDP reading for tests: where an SDP body wants its media. These read what
// an engine or a peer wrote; they are no parser (media has that) and check
// only what a test asserts on.

// lines splits an SDP body into lines, taking CRLF or LF.
func lines(sdp []byte) []string {
	return strings.Split(strings.ReplaceAll(string(sdp), "\r\n", "\n"), "\n")
}

// AudioAddr is where an SDP body wants its audio: the first audio m= line's
// port at that stream's c= address, or the session's when it has none.
// A rejected stream (port 0) is no audio.
func AudioAddr(sdp []byte) (netip.AddrPort, error) {
	var session, media netip.Addr
	port, inAudio := -1, false
	for _, line := range lines(sdp) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m="):
			if port >= 0 {
				inAudio = false
				continue
			}
			f := strings.Fields(line[2:])
			if len(f) < 2 || f[0] != "audio" {
				continue
			}
			p, err := strconv.Atoi(f[1])
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("sdp: bad m= port in %q", line)
			}
			port, inAudio = p, true
		case strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) != 3 {
				return netip.AddrPort{}, fmt.Errorf("sdp: bad c= line %q", line)
			}
			ip, err := netip.ParseAddr(f[2])
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("sdp: bad c= address in %q", line)
			}
			if inAudio {
				media = ip
			} else if port < 0 {
				session = ip
			}
		}
	}
	if port <= 0 {
		return netip.AddrPort{}, errors.New("sdp: no audio stream")
	}
	if !media.IsValid() {
		media = session
	}
	if !media.IsValid() {
		return netip.AddrPort{}, errors.New("sdp: no c= address")
	}
	return netip.AddrPortFrom(media, uint16(port)), nil
}

// MustAudioAddr is AudioAddr, failing the test when the SDP names no audio.
func MustAudioAddr(t testing.TB, sdp []byte) netip.AddrPort {
	t.Helper()
	ap, err := AudioAddr(sdp)
	if err != nil {
		t.Fatalf("%v in sdp:\n%s", err, sdp)
	}
	return ap
}

// MediaPorts are the ports of every m= line, in order, and the c= lines
// (session and media level) as written, for a test that checks where an
// SDP points.
func MediaPorts(sdp []byte) (ports []int, conns []string, err error) {
	for _, line := range lines(sdp) {
		switch {
		case strings.HasPrefix(line, "m="):
			f := strings.Fields(line)
			if len(f) < 2 {
				return nil, nil, fmt.Errorf("sdp: bad m= line %q", line)
			}
			p, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, nil, fmt.Errorf("sdp: bad m= line %q", line)
			}
			ports = append(ports, p)
		case strings.HasPrefix(line, "c="):
			conns = append(conns, line)
		}
	}
	return ports, conns, nil
}

// RTCPPort is the port of the first a=rtcp attribute (RFC 3605).
func RTCPPort(sdp []byte) (int, error) {
	for _, line := range lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=rtcp:"); ok {
			port, _, _ := strings.Cut(v, " ")
			if n, err := strconv.Atoi(port); err == nil {
				return n, nil
			}
		}
	}
	return 0, errors.New("sdp: no a=rtcp")
}

// rtpmaps are the rtpmap lines of the payload types Offer knows.
var rtpmaps = map[int]string{
	0:   "PCMU/8000",
	8:   "PCMA/8000",
	101: "telephone-event/8000",
}

// Offer is a minimal audio SDP for a peer: one m=audio line at IP:Port,
// with a=rtcp when RTCP is set, an rtpmap for each of Formats and then
// Attrs (without "a=") as given.
type Offer struct {
	User    string // o= user name; "-" when empty
	Session int    // o= session id (and version 1)
	IP      string // o= and c= address; 127.0.0.1 when empty
	Port    int
	RTCP    int   // a=rtcp port; none when 0
	Formats []int // payload types; PCMU (0) when empty
	Attrs   []string
}

// SDP renders the offer with CRLF line ends.
func (o Offer) SDP() []byte {
	user, ip, formats := o.User, o.IP, o.Formats
	if user == "" {
		user = "-"
	}
	if ip == "" {
		ip = "127.0.0.1"
	}
	if len(formats) == 0 {
		formats = []int{0}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=%s %d 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP", user, o.Session, ip, ip, o.Port)
	for _, pt := range formats {
		fmt.Fprintf(&b, " %d", pt)
	}
	b.WriteString("\r\n")
	if o.RTCP != 0 {
		fmt.Fprintf(&b, "a=rtcp:%d\r\n", o.RTCP)
	}
	for _, pt := range formats {
		if m, ok := rtpmaps[pt]; ok {
			fmt.Fprintf(&b, "a=rtpmap:%d %s\r\n", pt, m)
		}
	}
	for _, a := range o.Attrs {
		b.WriteString("a=" + a + "\r\n")
	}
	return []byte(b.String())
}
