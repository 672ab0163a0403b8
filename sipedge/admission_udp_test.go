package sipedge

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/internal/testkit"
)

// refusalRig is a refusing socket on 127.0.0.1 read by a loop that stands
// in for sipgo (what it gets is what sipgo would see), and a sender.
type refusalRig struct {
	adm    *Admission
	passed chan []byte
	sender *testkit.Peer
	dst    netip.AddrPort
	refusd chan netip.Addr
}

func newRefusalRig(t *testing.T, adm *Admission) *refusalRig {
	t.Helper()
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &refusalRig{adm: adm, passed: make(chan []byte, 16), sender: testkit.NewPeer(t), dst: srv.LocalAddr().(*net.UDPAddr).AddrPort(), refusd: make(chan netip.Addr, 16)}
	conn := RefuseOverUDP(srv, adm, func(src netip.Addr, _ time.Duration, _ error) { r.refusd <- src })
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			r.passed <- append([]byte{}, buf[:n]...)
		}
	}()
	t.Cleanup(func() { srv.Close(); <-done })
	return r
}

// send sends msg and reports what became of it: the response the sender
// got (nil: none) and whether the reader was handed the datagram.
func (r *refusalRig) send(t *testing.T, msg string) (res []byte, passed bool) {
	t.Helper()
	r.sender.Send(r.dst, []byte(msg))
	// One of the two always happens, or neither (a dropped ACK): the
	// reader's loop is sequential, so a probe sent after msg and seen
	// passed means msg was handled.
	probe := "OPTIONS sip:probe SIP/2.0\r\nCall-ID: probe\r\n\r\n"
	r.sender.Send(r.dst, []byte(probe))
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got := <-r.passed:
			if string(got) == probe {
				if d, ok := r.sender.Next(50 * time.Millisecond); ok {
					res = d.Data
				}
				return res, passed
			}
			passed = true
		case <-deadline:
			t.Fatal("the reader saw neither the message nor the probe")
		}
	}
}

func invite(headers ...string) string {
	h := map[string]string{
		"Via":     "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds;rport",
		"From":    "<sip:+8613800000001@carrier.example>;tag=1928301774",
		"To":      "<sip:+8617000000001@127.0.0.1>",
		"Call-ID": "a84b4c76e66710@pc33.carrier.example",
		"CSeq":    "314159 INVITE",
	}
	order := []string{"Via", "From", "To", "Call-ID", "CSeq"}
	var extra []string
	for _, kv := range headers {
		name, value, _ := strings.Cut(kv, ": ")
		if _, known := h[name]; known {
			h[name] = value // "" drops the field
			continue
		}
		extra = append(extra, kv)
	}
	var b strings.Builder
	b.WriteString("INVITE sip:+8617000000001@127.0.0.1:5060 SIP/2.0\r\n")
	for _, name := range order {
		if h[name] != "" {
			b.WriteString(name + ": " + h[name] + "\r\n")
		}
	}
	for _, kv := range extra {
		b.WriteString(kv + "\r\n")
	}
	b.WriteString("Contact: <sip:carrier@127.0.0.1:5070>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	return b.String()
}

func TestRefuseOverUDP(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		refused bool // answered 503 here; otherwise handed on
	}{
		{"new invite", invite(), true},
		{"compact fields", "INVITE sip:x@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1\r\nf: <sip:a@c>;tag=1\r\n" +
			"t: <sip:x@127.0.0.1>\r\ni: compact-1\r\nCSeq: 1 INVITE\r\n\r\n", true},
		{"two vias, one field each", invite("Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb"), true},
		{"re-invite: to-tag", invite("To: <sip:+8617000000001@127.0.0.1>;tag=abc"), false},
		{"re-invite: spaced tag", invite("To: <sip:+8617000000001@127.0.0.1> ; TAG = abc"), false},
		{"compact to with tag", strings.Replace(invite(), "To: <sip:+8617000000001@127.0.0.1>", "t: <sip:+8617000000001@127.0.0.1>;tag=x", 1), false},
		{"tag-like display name", invite(`To: "Tagged" <sip:+8617000000001@127.0.0.1>`), false},
		{"two from fields", invite("f: <sip:b@c>;tag=2"), false},
		{"two to fields", invite("t: <sip:x@y>"), false},
		{"no via", invite("Via: "), false},
		{"no call-id", invite("Call-ID: "), false},
		{"rfc 2543 branch", invite("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=1"), false},
		{"cseq of another method", invite("CSeq: 1 ACK"), false},
		{"cseq without number", invite("CSeq: INVITE"), false},
		{"folded field", strings.Replace(invite(), "Max-Forwards: 70\r\n", "Subject: a\r\n b\r\n", 1), false},
		{"bare lf", strings.Replace(invite(), "Max-Forwards: 70\r\n", "Subject: a\nb\r\n", 1), false},
		{"no end of header", strings.TrimSuffix(invite(), "\r\n\r\n"), false},
		{"other version", strings.Replace(invite(), " SIP/2.0\r\n", " SIP/3.0\r\n", 1), false},
		{"lower-case method", "invite" + strings.TrimPrefix(invite(), "INVITE"), false},
		{"options", strings.Replace(strings.Replace(invite(), "INVITE sip", "OPTIONS sip", 1), "CSeq: 314159 INVITE", "CSeq: 1 OPTIONS", 1), false},
		{"bye", strings.Replace(strings.Replace(invite(), "INVITE sip", "BYE sip", 1), "CSeq: 314159 INVITE", "CSeq: 2 BYE", 1), false},
	}
	// A full bucket of one: refuse everything after the first.
	adm := NewAdmission(Limits{CPS: 1e-6})
	if _, err := adm.Admit(srcA); err != nil {
		t.Fatal(err)
	}
	rig := newRefusalRig(t, adm)
	stateless := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, passed := rig.send(t, tt.msg)
			if !tt.refused {
				if !passed || res != nil {
					t.Fatalf("handed on %v, response %q; want handed on untouched", passed, res)
				}
				return
			}
			stateless++
			if passed {
				t.Fatal("a refused INVITE was handed on to the transaction layer")
			}
			checkRefusal(t, tt.msg, res)
			if src := <-rig.refusd; src != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("onRefuse told of %v", src)
			}
		})
	}
	if got := adm.Stats().Stateless; got != uint64(stateless) {
		t.Errorf("Stateless = %d, want %d", got, stateless)
	}
}

// checkRefusal: res is a 503 to req that sipgo reads, with Retry-After, the
// request's Via, From, Call-ID and CSeq, and a stateless To-tag.
func checkRefusal(t *testing.T, req string, res []byte) {
	t.Helper()
	msg, err := sip.ParseMessage(append([]byte{}, res...))
	if err != nil {
		t.Fatalf("503 does not parse: %v\n%s", err, res)
	}
	r, ok := msg.(*sip.Response)
	if !ok || r.StatusCode != 503 {
		t.Fatalf("not a 503:\n%s", res)
	}
	q, err := sip.ParseMessage([]byte(req))
	if err != nil {
		t.Fatalf("request does not parse: %v", err)
	}
	in := q.(*sip.Request)
	if ra := r.GetHeader("Retry-After"); ra == nil || ra.Value() == "" || ra.Value() == "0" {
		t.Errorf("Retry-After %v", ra)
	}
	if r.CallID().Value() != in.CallID().Value() || r.CSeq().Value() != in.CSeq().Value() ||
		r.From().Value() != in.From().Value() {
		t.Errorf("503 does not match the request:\n%s", res)
	}
	var reqVias, resVias []string
	for _, h := range in.GetHeaders("Via") {
		reqVias = append(reqVias, h.Value())
	}
	for _, h := range r.GetHeaders("Via") {
		resVias = append(resVias, h.Value())
	}
	if strings.Join(reqVias, ",") != strings.Join(resVias, ",") {
		t.Errorf("Via %q, want %q", resVias, reqVias)
	}
	tag, _ := r.To().Params.Get("tag")
	if !strings.HasPrefix(tag, statelessTag) || r.To().Address.String() != in.To().Address.String() {
		t.Errorf("To %q", r.To().Value())
	}
}

// TestRefuseOverUDPRetransmission: a retransmitted INVITE gets the same
// 503 (the same To-tag), and the ACK of that 503 goes nowhere, while the
// ACK of anything else is handed on.
func TestRefuseOverUDPRetransmission(t *testing.T) {
	adm := NewAdmission(Limits{MaxCalls: 1})
	if _, err := adm.Admit(srcA); err != nil {
		t.Fatal(err)
	}
	rig := newRefusalRig(t, adm)
	first, _ := rig.send(t, invite())
	again, _ := rig.send(t, invite())
	if first == nil || !bytes.Equal(first, again) {
		t.Fatalf("retransmission answered\n%s\nthen\n%s", first, again)
	}
	msg, _ := sip.ParseMessage(append([]byte{}, first...))
	to := msg.(*sip.Response).To().Value()
	ack := "ACK sip:+8617000000001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds\r\n" +
		"From: <sip:+8613800000001@carrier.example>;tag=1928301774\r\nTo: " + to + "\r\n" +
		"Call-ID: a84b4c76e66710@pc33.carrier.example\r\nCSeq: 314159 ACK\r\nContent-Length: 0\r\n\r\n"
	if res, passed := rig.send(t, ack); passed || res != nil {
		t.Fatalf("the 503's ACK was handed on (%v) or answered (%q)", passed, res)
	}
	dialogACK := strings.Replace(ack, to, "<sip:+8617000000001@127.0.0.1>;tag=Zk3v9Qe", 1)
	if _, passed := rig.send(t, dialogACK); !passed {
		t.Fatal("an ACK of a dialog was dropped")
	}
	adm.Release()
	if res, passed := rig.send(t, invite()); !passed || res != nil {
		t.Fatalf("with room again the INVITE was not handed on (response %q)", res)
	}
}

// FuzzRefusalParse: whatever the datagram, the stateless path refuses only
// what sipgo reads as a new INVITE (no To-tag: never a call that is up),
// and its 503 is one sipgo reads, for the same transaction.
func FuzzRefusalParse(f *testing.F) {
	f.Add([]byte(invite()))
	f.Add([]byte(invite("To: <sip:x@y>;tag=1")))
	f.Add([]byte("INVITE sip:x@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@c>;tag=1\r\nt: x\r\ni: c\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Add([]byte("INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: a\r\nTo: <sip:x@y;tag=1>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var inv rawInvite
		if !inv.parse(data) {
			return
		}
		msg, err := sip.ParseMessage(append([]byte{}, data...))
		if err != nil {
			return // sipgo would drop it; the 503 answers a sender that is owed none, harmless
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Method != sip.INVITE {
			t.Fatalf("refused a %T %v", msg, msg)
		}
		if to := req.To(); to != nil && to.Params.Has("tag") {
			t.Fatalf("refused an in-dialog INVITE: To %q", to.Value())
		}
		res := inv.appendRefusal(nil, time.Second)
		rm, err := sip.ParseMessage(res)
		if err != nil {
			t.Fatalf("503 does not parse: %v\n%s", err, res)
		}
		r, ok := rm.(*sip.Response)
		if !ok || r.StatusCode != 503 || r.CallID() == nil || req.CallID() == nil || r.CallID().Value() != req.CallID().Value() {
			t.Fatalf("503 for another transaction:\n%s", res)
		}
	})
}

// BenchmarkRefuseOverUDP is the cost of the stateless path per datagram: a
// refused INVITE (scan, screen, build), and the scan an admitted one pays
// on its way to sipgo.
func BenchmarkRefuseOverUDP(b *testing.B) {
	data := []byte(invite("User-Agent: carrier-sbc/1.0", "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS",
		"P-Asserted-Identity: <sip:+8613800000001@carrier.example;user=phone>", "Content-Type: application/sdp"))
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5070}
	for _, tc := range []struct {
		name   string
		limits Limits
	}{
		{"refused", Limits{CPS: 1e-6}},
		{"handed on", Limits{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			adm := NewAdmission(tc.limits)
			_, _ = adm.Admit(srcA)
			c := &refusingConn{PacketConn: discardConn{}, a: adm}
			b.ReportAllocs()
			for b.Loop() {
				if c.answered(data, from) != (tc.name == "refused") {
					b.Fatal("wrong path")
				}
			}
		})
	}
}

// discardConn is a PacketConn whose writes go nowhere.
type discardConn struct{ net.PacketConn }

func (discardConn) WriteTo(p []byte, _ net.Addr) (int, error) { return len(p), nil }
