package sipedge

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// streamPair is a real loopback TCP connection whose server end is wrapped
// by the guard and read as sipgo's TCP transport reads it: one goroutine,
// one Read after another.
type streamPair struct {
	peer  net.Conn    // what the remote party writes to
	reads chan string // each Read of the server end
}

func newStreamPair(t *testing.T, g *malformedGuard) streamPair {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := g.listener(l).Accept()
	if err != nil {
		t.Fatal(err)
	}
	p := streamPair{peer: peer, reads: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				p.reads <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { peer.Close(); server.Close(); <-done })
	return p
}

func newTestGuard() *malformedGuard {
	g := &malformedGuard{log: zerolog.Nop(), parser: sip.NewParser()}
	g.partialTimeout.Store(int64(partialMessageTimeout))
	return g
}

// write sends each chunk as its own segment and gives the kernel time to
// deliver it alone.
func (p streamPair) write(t *testing.T, chunks ...string) {
	t.Helper()
	for _, c := range chunks {
		if _, err := p.peer.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// read is the next Read sipgo made; "" when none came within wait.
func (p streamPair) read(t *testing.T, wait time.Duration) string {
	t.Helper()
	select {
	case s := <-p.reads:
		return s
	case <-time.After(wait):
		return ""
	}
}

func streamRequest(method, callID string) string {
	return method + " sip:x@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK" + callID + "\r\n" +
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 " + method + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

// TestStreamGuardHandsOnWholeMessages: a message that trickles in byte by
// byte reaches sipgo in one piece, when its last byte has come, and not
// before; two messages in one segment reach it whole too.
func TestStreamGuardHandsOnWholeMessages(t *testing.T) {
	p := newStreamPair(t, newTestGuard())
	msg := streamRequest("OPTIONS", "c1")
	if _, err := p.peer.Write([]byte(msg[:len(msg)-1])); err != nil {
		t.Fatal(err)
	}
	if got := p.read(t, 200*time.Millisecond); got != "" {
		t.Fatalf("sipgo got %q before the message was complete", got)
	}
	p.write(t, msg[len(msg)-1:])
	if got := p.read(t, time.Second); got != msg {
		t.Fatalf("sipgo got %q, want the whole message", got)
	}
	two := streamRequest("OPTIONS", "c2") + streamRequest("OPTIONS", "c3")
	p.write(t, two)
	if got := p.read(t, time.Second); got != two {
		t.Fatalf("sipgo got %q, want both messages", got)
	}
}

// TestStreamGuardPassesKeepalivesAtOnce: an RFC 5626 ping read alone
// between messages reaches sipgo alone and at once, so sipgo sends its pong;
// a CRLF that ends a line inside a message is held with the message.
func TestStreamGuardPassesKeepalivesAtOnce(t *testing.T) {
	p := newStreamPair(t, newTestGuard())
	for _, ping := range []string{"\r\n\r\n", "\r\n"} {
		p.write(t, ping)
		if got := p.read(t, time.Second); got != ping {
			t.Fatalf("ping %q reached sipgo as %q", ping, got)
		}
	}
	msg := streamRequest("OPTIONS", "c1")
	cut := strings.Index(msg, "\r\nTo:")
	p.write(t, msg[:cut], "\r\n", msg[cut+2:])
	if got := p.read(t, time.Second); got != msg {
		t.Fatalf("sipgo got %q, want the whole message", got)
	}
	// After a message, with a CRLF of its own left over in the guard, a
	// ping is still a ping.
	p.write(t, streamRequest("OPTIONS", "c2")+"\r\n")
	if got := p.read(t, time.Second); got != streamRequest("OPTIONS", "c2") {
		t.Fatalf("sipgo got %q", got)
	}
	p.write(t, "\r\n\r\n")
	if got := p.read(t, time.Second); got != "\r\n\r\n" {
		t.Fatalf("ping after a message reached sipgo as %q", got)
	}
}

// TestStreamGuardScreensCancels: a CANCEL the screen refuses never reaches
// sipgo, the messages around it do, and the screen sees the connection's
// peer address and the CANCEL's Call-ID.
func TestStreamGuardScreensCancels(t *testing.T) {
	g := newTestGuard()
	type asked struct {
		callID string
		src    netip.Addr
	}
	var seen []asked
	g.cancelAllowed = func(callID string, src netip.Addr) bool {
		seen = append(seen, asked{callID, src})
		return callID != "theirs"
	}
	p := newStreamPair(t, g)
	before, refused, after := streamRequest("OPTIONS", "o1"), streamRequest("CANCEL", "theirs"), streamRequest("OPTIONS", "o2")
	p.write(t, before+refused+after)
	if got := p.read(t, time.Second); got != before+after {
		t.Fatalf("sipgo got %q, want the two OPTIONS without the CANCEL", got)
	}
	p.write(t, refused[:10], refused[10:])
	if got := p.read(t, 200*time.Millisecond); got != "" {
		t.Fatalf("a refused CANCEL in two segments reached sipgo: %q", got)
	}
	allowed := streamRequest("CANCEL", "ours")
	p.write(t, allowed)
	if got := p.read(t, time.Second); got != allowed {
		t.Fatalf("an allowed CANCEL reached sipgo as %q", got)
	}
	want := netip.MustParseAddr("127.0.0.1")
	if len(seen) != 3 {
		t.Fatalf("screen asked %d times, want 3 (one per CANCEL): %v", len(seen), seen)
	}
	for _, a := range seen {
		if a.src != want {
			t.Errorf("screen asked about source %v, want %v", a.src, want)
		}
	}
	if !bytes.Contains([]byte(seen[2].callID), []byte("ours")) {
		t.Errorf("screen asked about %q", seen[2].callID)
	}
}
