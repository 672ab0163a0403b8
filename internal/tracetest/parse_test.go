package tracetest

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

const invite = `carrier sends INVITE
    INVITE sip:+8617000000001@[engine] SIP/2.0
    Via: SIP/2.0/UDP [carrier];branch=[branch:invite]
    From: <sip:+8613800000001@carrier.example>;tag=[tag]
    To: <sip:+8617000000001@[engine]>
    Call-ID: [call_id]
    CSeq: 1 INVITE
    Content-Type: application/sdp

    v=0
    m=audio [rtp_port] RTP/AVP 0
`

func TestParseValid(t *testing.T) {
	tr, err := Parse("t", strings.NewReader(`# comment
trace   answered call
binding order x=8617000000001 a=8613800000001 b=8613900000002 ttl=1h
engine  answer_timeout=500ms
hide    13800000001 from trunk

`+invite+`
trunk expects INVITE within 2s
    R-URI user == +8613900000002
    # a comment among checks
    header P-Asserted-Identity contains +8617000000001
    Call-ID != [carrier.call_id]
    sdp c= !contains 127.0.0.9
    From display == ""
    Subject == two words
    absent Remote-Party-ID
    capture To tag as b_tag

trunk replies 180 Ringing
    Contact: <sip:b@[trunk]>
trunk replies 486 to INVITE
carrier expects 486 to INVITE
    To tag != [b_tag]
wait 1.5s
api delete binding order
api create binding again x=8617000000001 a=8613800000001 b=8613900000002 ttl=2s
expect no message on trunk for 500ms
`))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Title != "answered call" || tr.Engine.AnswerTimeout != 500*time.Millisecond {
		t.Errorf("header: title %q, engine %+v", tr.Title, tr.Engine)
	}
	if len(tr.Bindings) != 1 || tr.Bindings[0] != (Binding{Name: "order", X: "8617000000001", A: "8613800000001", B: "8613900000002", TTL: time.Hour}) {
		t.Errorf("bindings %+v", tr.Bindings)
	}
	if len(tr.hidden) != 1 || tr.hidden[0].side != Trunk || tr.hidden[0].text != "13800000001" {
		t.Errorf("hidden %+v", tr.hidden)
	}
	kinds := []stepKind{stepSend, stepExpect, stepReply, stepReply, stepExpect, stepWait, stepDelete, stepCreate, stepSilence}
	if len(tr.steps) != len(kinds) {
		t.Fatalf("%d steps, want %d", len(tr.steps), len(kinds))
	}
	for i, k := range kinds {
		if tr.steps[i].kind != k {
			t.Errorf("step %d kind %d, want %d", i, tr.steps[i].kind, k)
		}
	}
	send := tr.steps[0]
	if !strings.HasSuffix(send.template, "\n\nv=0\nm=audio [rtp_port] RTP/AVP 0") || send.tmplLine != 8 {
		t.Errorf("send template (line %d) %q", send.tmplLine, send.template)
	}
	exp := tr.steps[1]
	if exp.within != 2*time.Second || len(exp.checks) != 8 {
		t.Fatalf("expect: within %s, %d checks", exp.within, len(exp.checks))
	}
	want := []check{
		{subject: subject{kind: "ruri", part: "user"}, op: "==", value: "+8613900000002"},
		{subject: subject{kind: "header", name: "P-Asserted-Identity"}, op: "contains", value: "+8617000000001"},
		{subject: subject{kind: "header", name: "Call-ID"}, op: "!=", value: "[carrier.call_id]"},
		{subject: subject{kind: "sdp", name: "c="}, op: "!contains", value: "127.0.0.9"},
		{subject: subject{kind: "header", name: "From", part: "display"}, op: "==", value: ""},
		{subject: subject{kind: "header", name: "Subject"}, op: "==", value: "two words"},
		{subject: subject{kind: "header", name: "Remote-Party-ID"}, op: "absent"},
		{subject: subject{kind: "header", name: "To", part: "tag"}, op: "capture", value: "b_tag"},
	}
	for i, w := range want {
		c := exp.checks[i]
		if c.subject != w.subject || c.op != w.op || c.value != w.value {
			t.Errorf("check %d (%s) = %+v %q %q, want %+v %q %q", i, c.text, c.subject, c.op, c.value, w.subject, w.op, w.value)
		}
	}
	if r := tr.steps[2]; r.what != "180" || r.reason != "Ringing" || r.template != "Contact: <sip:b@[trunk]>" {
		t.Errorf("reply 180: %+v", r)
	}
	if r := tr.steps[3]; r.what != "486" || r.reason != "Busy Here" || r.to != "INVITE" {
		t.Errorf("reply 486: %+v", r)
	}
	if e := tr.steps[4]; e.to != "INVITE" || e.within != DefaultExpectTimeout {
		t.Errorf("expect 486: %+v", e)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"empty", "# nothing\n", "no steps"},
		{"unknown directive", "frobnicate\n", "t:1: unknown directive"},
		{"unknown side", "wait 1s\nexpect no message on phone for 1s\n", "t:2: unknown side"},
		{"stray indent", "    INVITE\n", "t:1: indented line outside a step"},
		{"bad duration", "wait soon\n", "t:1: bad duration"},
		{"too long", "wait 1h\n", "t:1: bad duration"},
		{"header after step", "wait 1s\nbinding o x=1111 a=2222 b=3333 ttl=1s\n", "t:2: binding belongs in the header"},
		{"binding digits", "binding o x=+861 a=2222 b=3333 ttl=1s\nwait 1s\n", "t:1: x=\"+861\""},
		{"binding missing ttl", "binding o x=1111 a=2222 b=3333 y=1\nwait 1s\n", "unknown binding field"},
		{"binding twice", "binding o x=1111 a=2222 b=3333 ttl=1s\nbinding o x=1111 a=2222 b=3333 ttl=1s\nwait 1s\n", "t:2: binding \"o\" defined twice"},
		{"delete unknown", "api delete binding nope\n", "t:1: unknown binding"},
		{"engine option", "engine max_calls=3\nwait 1s\n", "unknown engine option"},
		{"engine tries", "engine tries=0\nwait 1s\n", "tries=\"0\""},
		{"engine prompts", "engine prompts=../x\nwait 1s\n", "prompts=\"../x\""},
		{"axe with b", "binding o model=axe x=1111 a=2222 b=3333 ttl=1s\nwait 1s\n", "an axe binding has an extension and no b"},
		{"axe no extension", "binding o model=axe x=1111 a=2222 ttl=1s\nwait 1s\n", "an axe binding has an extension and no b"},
		{"axb with extension", "binding o x=1111 a=2222 b=3333 extension=12 ttl=1s\nwait 1s\n", "an axb binding has a b and no extension"},
		{"bad model", "binding o model=axz x=1111 a=2222 extension=12 ttl=1s\nwait 1s\n", "model=\"axz\""},
		{"bad extension", "binding o model=axe x=1111 a=2222 extension=1234567 ttl=1s\nwait 1s\n", "extension=\"1234567\""},
		{"send no message", "carrier sends INVITE\nwait 1s\n", "t:1: sends needs the message"},
		{"send wrong start", "carrier sends BYE\n    INVITE sip:x@[engine] SIP/2.0\n", "t:2: start line"},
		{"send wrong status", "trunk sends 180\n    SIP/2.0 183 Session Progress\n", "t:2: start line"},
		{"mixed indent", "carrier sends BYE\n    BYE sip:x SIP/2.0\n\tVia: x\n", "t:3: indentation differs"},
		{"unknown variable", "carrier sends BYE\n    BYE sip:[nobody] SIP/2.0\n", "t:2: unknown variable [nobody]"},
		{"capture used before", "carrier expects 200\n    To tag == [later]\ncarrier expects 200\n    capture To tag as later\n", "t:2: unknown variable [later]"},
		{"capture twice", "carrier expects 200\n    capture To tag as x\n    capture From tag as x\n", "t:3: \"x\" already captured on line 2"},
		{"capture reserved", "carrier expects 200\n    capture To tag as tag\n", "reserved"},
		{"no operator", "carrier expects 200\n    To tag [x]\n", "t:2: no operator"},
		{"bad regexp", "carrier expects 200\n    To tag matches (\n", "t:2: bad regexp"},
		{"sdp subject", "carrier expects 200\n    sdp foo == 1\n", "want: sdp port|addr|X="},
		{"expect to on request", "carrier expects BYE to INVITE\n", "t:1: want: carrier expects"},
		{"expect junk", "carrier expects 200 soon\n", "t:1: want: carrier expects"},
		{"reply request", "trunk replies BYE\n", "t:1: want: trunk replies STATUS"},
		{"wait block", "wait 1s\n    something\n", "t:2: wait takes no indented block"},
		{"hide shape", "hide 123 to trunk\nwait 1s\n", "want: hide TEXT from"},
		{"skip reason", "skip\nwait 1s\n", "skip needs a reason"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t", strings.NewReader(tc.text))
			if err == nil {
				t.Fatalf("parsed; want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseAXE(t *testing.T) {
	tr, err := Parse("t", strings.NewReader(`engine prompts=en first_digit=300ms inter_digit=200ms tries=2 answer_timeout=2s
binding parcel model=axe x=8617000000001 a=8613800000001 extension=1234 ttl=1h
api create binding other model=axb x=8617000000002 a=8613800000001 b=8613900000002 ttl=1h
`))
	if err != nil {
		t.Fatal(err)
	}
	want := EngineOptions{AnswerTimeout: 2 * time.Second, Prompts: "en", FirstDigit: 300 * time.Millisecond, InterDigit: 200 * time.Millisecond, Tries: 2}
	if tr.Engine != want {
		t.Errorf("engine %+v, want %+v", tr.Engine, want)
	}
	if len(tr.Bindings) != 1 || tr.Bindings[0] != (Binding{Name: "parcel", Model: "axe", X: "8617000000001", A: "8613800000001", Extension: "1234", TTL: time.Hour}) {
		t.Errorf("bindings %+v", tr.Bindings)
	}
	if b := tr.steps[0].binding; b.Model != "" || b.B != "8613900000002" {
		t.Errorf("model=axb binding %+v", b)
	}
}

// The traces shipped in testdata must parse; the b2bua test replays them.
func TestParseShippedTraces(t *testing.T) {
	for _, name := range []string{"answer", "busy", "cancel", "no-binding", "b-calls-back", "expiry", "axe-info-digits", "axe-first-digit-timeout", "axe-callback"} {
		if _, err := ParseFile("../../testdata/traces/" + name + ".trace"); err != nil {
			t.Error(err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("trace x\nbinding o x=1111 a=2222 b=3333 ttl=1s\n" + invite + "carrier expects 200 to INVITE\n    To tag == [tag]\n    capture sdp port as p\n")
	f.Add("wait 1s\ncarrier expects 180 within 2s\n    sdp c= !contains [carrier]\n")
	f.Add("trunk replies 200 OK to BYE\n    Contact: <sip:[trunk]>\n\n    v=0\n")
	f.Fuzz(func(t *testing.T, text string) {
		tr, err := Parse("f", strings.NewReader(text))
		if err != nil {
			return
		}
		if len(tr.steps) == 0 {
			t.Fatal("parsed a trace without steps")
		}
		for _, st := range tr.steps {
			if st.line < 1 || (st.kind == stepSend && st.template == "") {
				t.Fatalf("step %+v", st)
			}
		}
	})
}

func BenchmarkParseAnswerTrace(b *testing.B) {
	data, err := os.ReadFile("../../testdata/traces/answer.trace")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("answer", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
