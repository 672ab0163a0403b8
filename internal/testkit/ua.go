package testkit

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// UA is the plumbing of a scripted SIP party (a carrier that sends A legs,
// a trunk that answers B legs): a sipgo user agent named name on one
// loopback address, with a server for the test's handlers, a client that
// sends from that address (so responses and in-dialog requests come back
// to it) and a dialog UA whose Contact is sip:name@addr. The test sets the
// handlers on Server, then calls ServeUDP (and ServeTCP).
type UA struct {
	t      testing.TB
	Name   string
	Addr   string // host:port
	Host   string
	Port   int
	UA     *sipgo.UserAgent
	Server *sipgo.Server
	Client *sipgo.Client
	Dialog *sipgo.DialogUA

	udp net.PacketConn // bound by NewUDPUA, served by ServeUDP
}

// NewUA makes the user agent; it is closed when the test ends.
func NewUA(t testing.TB, name, addr string) *UA {
	t.Helper()
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname(host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientConnectionAddr(addr))
	if err != nil {
		t.Fatal(err)
	}
	return &UA{t: t, Name: name, Addr: addr, Host: host, Port: port, UA: ua, Server: srv, Client: cli,
		Dialog: &sipgo.DialogUA{Client: cli, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: host, Port: port}}}}
}

// NewUDPUA is NewUA on a loopback UDP port the kernel picks, bound at
// once: no other socket can take the port between its choice and the
// UA's bind, as one can with FreePort when many tests run side by side.
// ServeUDP serves that socket (set the handlers first).
func NewUDPUA(t testing.TB, name string) *UA {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u := NewUA(t, name, conn.LocalAddr().String())
	u.udp = conn
	return u
}

// ServeUDP serves the UA on its address over UDP until the test ends. It
// returns once sipgo's transport layer holds the socket: a request sent
// before that would make sipgo bind the same address a second time.
func (u *UA) ServeUDP() {
	u.t.Helper()
	conn := u.udp
	if conn == nil {
		var err error
		if conn, err = net.ListenPacket("udp", u.Addr); err != nil {
			u.t.Fatal(err)
		}
		u.t.Cleanup(func() { conn.Close() })
	}
	go u.Server.ServeUDP(conn)
	for range 1000 {
		if c, err := u.UA.TransportLayer().GetConnection("udp", u.Addr); err == nil && c != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	u.t.Fatalf("%s: udp listener %s not serving", u.Name, u.Addr)
}

// ServeTCP serves the UA on its address over TCP until the test ends.
func (u *UA) ServeTCP() {
	u.t.Helper()
	l, err := net.Listen("tcp", u.Addr)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { l.Close() })
	go u.Server.ServeTCP(l)
}

// Params builds header or URI parameters from key, value pairs.
func Params(kv ...string) sip.HeaderParams {
	p := sip.NewParams()
	for i := 0; i+1 < len(kv); i += 2 {
		p.Add(kv[i], kv[i+1])
	}
	return p
}
