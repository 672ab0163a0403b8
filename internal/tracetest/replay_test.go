package tracetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/internal/testkit"
)

// fakeEngine is a scripted peer on 127.0.0.1 standing in for the engine, so
// the replayer's own behaviour (absorbing, strictness, replies) is tested
// without the b2bua package.
type fakeEngine struct {
	conn *net.UDPConn
}

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeEngine{conn: c}
}

func (f *fakeEngine) recv() (sip.Message, *net.UDPAddr, error) {
	buf := make([]byte, 65535)
	_ = f.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := f.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, nil, err
	}
	m, err := sip.ParseMessage(buf[:n])
	return m, from, err
}

func (f *fakeEngine) send(to *net.UDPAddr, m sip.Message) error {
	_, err := f.conn.WriteToUDP([]byte(m.String()), to)
	return err
}

// replay runs trace text against a fake engine driven by script.
func replay(t *testing.T, text string, script func(f *fakeEngine, rp *Replayer) error) error {
	t.Helper()
	tr, err := Parse("t", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	rp, err := New(WithQuietPeriod(150*time.Millisecond), WithLog(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	f := newFakeEngine(t)
	scriptErr := make(chan error, 1)
	go func() { scriptErr <- script(f, rp) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runErr := rp.Run(ctx, f.conn.LocalAddr().String(), tr, nil)
	select {
	case err := <-scriptErr:
		if err != nil {
			t.Fatalf("fake engine: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fake engine script did not finish")
	}
	return runErr
}

const options = `carrier sends OPTIONS
    OPTIONS sip:[engine] SIP/2.0
    Via: SIP/2.0/UDP [carrier];branch=[branch]
    Max-Forwards: 70
    From: <sip:c@[carrier]>;tag=[tag]
    To: <sip:[engine]>
    Call-ID: [call_id]
    CSeq: 1 OPTIONS

carrier expects 200 to OPTIONS
    Allow contains INVITE
    From tag == [tag]
    Call-ID == [call_id]
`

// answerOptions answers the OPTIONS with each response in order.
func answerOptions(responses ...func(req *sip.Request) *sip.Response) func(*fakeEngine, *Replayer) error {
	return func(f *fakeEngine, _ *Replayer) error {
		m, from, err := f.recv()
		if err != nil {
			return err
		}
		req, ok := m.(*sip.Request)
		if !ok || req.Method != sip.OPTIONS {
			return fmt.Errorf("got %v, want OPTIONS", m)
		}
		for _, r := range responses {
			if err := f.send(from, r(req)); err != nil {
				return err
			}
		}
		return nil
	}
}

func respond(code int, headers ...sip.Header) func(*sip.Request) *sip.Response {
	return func(req *sip.Request) *sip.Response {
		res := sip.NewResponseFromRequest(req, code, "R", nil)
		for _, h := range headers {
			res.AppendHeader(h)
		}
		return res
	}
}

func TestReplayAbsorbsTryingAndRetransmissions(t *testing.T) {
	var ok *sip.Response
	once := func(req *sip.Request) *sip.Response {
		if ok == nil {
			ok = respond(200, sip.NewHeader("Allow", "INVITE, BYE"))(req)
		}
		return ok // the same response twice: a retransmission
	}
	if err := replay(t, options, answerOptions(respond(100), once, once)); err != nil {
		t.Fatal(err)
	}
}

func TestReplayFailures(t *testing.T) {
	cases := []struct {
		name   string
		text   string
		script func(*fakeEngine, *Replayer) error
		want   []string
	}{
		{
			name:   "other response than expected",
			text:   options,
			script: answerOptions(respond(404)),
			want:   []string{"t:10: carrier expects 200 to OPTIONS", "expected: 200 to OPTIONS", "received: SIP/2.0 404 R"},
		},
		{
			name:   "failed check shows the value",
			text:   options,
			script: answerOptions(respond(200, sip.NewHeader("Allow", "BYE"))),
			want:   []string{"1 of 3 checks failed", `line 11: Allow contains INVITE  (got "BYE"`, "received:", "Allow: BYE"},
		},
		{
			name:   "hidden text",
			text:   "hide 13800000001 from carrier\n" + options,
			script: answerOptions(respond(200, sip.NewHeader("Allow", "INVITE"), sip.NewHeader("X-Leak", "+8613800000001"))),
			want:   []string{"privacy breach", `received "13800000001"`, "X-Leak"},
		},
		{
			name:   "hidden text in an absorbed 100",
			text:   "hide 13800000001 from carrier\n" + options,
			script: answerOptions(respond(100, sip.NewHeader("X-Leak", "8613800000001"))),
			want:   []string{"privacy breach"},
		},
		{
			name: "message after the last step",
			text: options,
			script: answerOptions(respond(200, sip.NewHeader("Allow", "INVITE")), func(req *sip.Request) *sip.Response {
				return respond(180)(req) // a new response, not a retransmission
			}),
			want: []string{"after the last step the carrier received an unexpected message", "SIP/2.0 180"},
		},
		{
			name:   "nothing arrives",
			text:   strings.Replace(options, "carrier expects 200 to OPTIONS", "carrier expects 200 to OPTIONS within 300ms", 1),
			script: answerOptions(),
			want:   []string{"nothing received within 300ms"},
		},
		{
			name: "silence broken",
			text: "expect no message on trunk for 2s\n",
			script: func(f *fakeEngine, rp *Replayer) error {
				to, _ := net.ResolveUDPAddr("udp", rp.TrunkAddr())
				return f.send(to, sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: "127.0.0.1"}))
			},
			want: []string{"t:1: expected no message on the trunk for 2s", "OPTIONS sip:127.0.0.1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := replay(t, tc.text, tc.script)
			if err == nil {
				t.Fatal("run passed")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// reply copies Via, From, To, Call-ID and CSeq from the request and keeps
// one To tag for every response of the dialog.
func TestReplayReplies(t *testing.T) {
	text := `trunk expects INVITE
    R-URI user == +8613900000002
    capture Via branch as branch_in
trunk replies 180 Ringing
    Contact: <sip:b@[trunk]>
trunk replies 200 OK to INVITE
    Contact: <sip:b@[trunk]>
    Content-Type: application/sdp

    v=0
    m=audio [rtp_port] RTP/AVP 0
`
	err := replay(t, text, func(f *fakeEngine, rp *Replayer) error {
		to, _ := net.ResolveUDPAddr("udp", rp.TrunkAddr())
		inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "+8613900000002", Host: "127.0.0.1"})
		inv.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP "+f.conn.LocalAddr().String()+";branch=z9hG4bKone"))
		inv.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKtwo"))
		inv.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "x", Host: "h"}, Params: testkit.Params("tag", "ftag")})
		inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "b", Host: "h"}, Params: sip.NewParams()})
		inv.AppendHeader(sip.NewHeader("Call-ID", "cid"))
		inv.AppendHeader(&sip.CSeqHeader{SeqNo: 7, MethodName: sip.INVITE})
		if err := f.send(to, inv); err != nil {
			return err
		}
		var tags []string
		for _, code := range []int{180, 200} {
			m, _, err := f.recv()
			if err != nil {
				return err
			}
			res, ok := m.(*sip.Response)
			if !ok || res.StatusCode != code {
				return fmt.Errorf("got %v, want %d", m.String(), code)
			}
			vias := res.GetHeaders("Via")
			if len(vias) != 2 || !strings.Contains(vias[0].Value(), "z9hG4bKone") || !strings.Contains(vias[1].Value(), "z9hG4bKtwo") {
				return fmt.Errorf("%d: Vias %v not copied in order", code, vias)
			}
			tag, _ := res.To().Params.Get("tag")
			from, _ := res.From().Params.Get("tag")
			if tag == "" || from != "ftag" || res.CallID().Value() != "cid" || res.CSeq().Value() != "7 INVITE" {
				return fmt.Errorf("%d: dialog headers not copied:\n%s", code, res)
			}
			if res.Contact() == nil || res.Contact().Address.Host != "127.0.0.1" {
				return fmt.Errorf("%d: Contact %v", code, res.Contact())
			}
			tags = append(tags, tag)
			if code == 200 && !strings.Contains(string(res.Body()), "m=audio ") {
				return fmt.Errorf("200 without SDP body: %q", res.Body())
			}
		}
		if tags[0] != tags[1] {
			return fmt.Errorf("180 and 200 To tags differ: %v", tags)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReplayRunsOnce(t *testing.T) {
	rp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	tr, err := Parse("t", strings.NewReader("wait 10ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Run(context.Background(), "127.0.0.1:9", tr, nil); err != nil {
		t.Fatal(err)
	}
	if err := rp.Run(context.Background(), "127.0.0.1:9", tr, nil); err == nil {
		t.Fatal("second Run on one Replayer succeeded")
	}
}

func TestReplayNeedsSetupForBindings(t *testing.T) {
	rp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	tr, err := Parse("t", strings.NewReader("binding o x=1111 a=2222 b=3333 ttl=1s\nwait 10ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = rp.Run(context.Background(), "127.0.0.1:9", tr, nil)
	if err == nil || !strings.Contains(err.Error(), "no Setup") {
		t.Fatalf("Run = %v, want a missing-Setup error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rp2, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer rp2.Close()
	tr2, _ := Parse("t", strings.NewReader("wait 1m\n"))
	if err := rp2.Run(ctx, "127.0.0.1:9", tr2, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v", err)
	}
}
