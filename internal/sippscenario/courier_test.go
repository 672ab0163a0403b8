package sippscenario

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/internal/dtmfpcap"
	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/ivr"
)

// TestCourierKeys runs uac-courier.xml with the real SIPp against a
// scripted stand-in for the engine's answering side, both ways of keying,
// and checks what arrives: each key as a SIP INFO that the engine's own
// INFO reader (ivr.DigitFromInfo) reads back, or, with play_pcap_audio,
// every packet of a stream this test builds with dtmfpcap, byte for byte,
// from SIPp's media port to the media address of the answer (dtmfpcap's
// own tests read such a stream back as its keys). Then the courier hangs
// up with a BYE.
func TestCourierKeys(t *testing.T) {
	sippPath(t)
	const keys = "4821#"
	for _, tc := range []struct {
		name    string
		keying  string
		keys    string
		contact string // the user part of the stand-in's Contact
		stat    string // the failure SIPp must count, "" for a call that passes
		want    string // and what its error log must say
	}{
		{"info", "info", keys, "ivr", "", ""},
		{"pcap", "pcap", keys, "ivr", "", ""},
		// Privacy: A's number (139000...) in anything the courier gets.
		{"A's number shown to the courier", "info", keys, phoneA, "FailedRegexpShouldntMatch(C)", "Regexp matched but should not"},
		// The scenario's own checks: neither way of keying, or no keys,
		// must not pass as a call that keyed nothing.
		{"keying neither info nor pcap", "dtmf", keys, "ivr", "FailedRegexpDoesntMatch(C)", "looking in 'dtmf', with regexp '^(info|pcap)$'"},
		{"no keys", "info", "", "ivr", "FailedRegexpDoesntMatch(C)", "with regexp '^[0-9*#A-D]{1,16}$'"},
		{"17 keys", "info", "12345678901234567", "ivr", "FailedRegexpDoesntMatch(C)", "with regexp '^[0-9*#A-D]{1,16}$'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.keying == "pcap" && os.Geteuid() != 0 {
				t.Skip("SIPp's play_pcap_audio sends through a raw socket: run as root")
			}
			dir := t.TempDir()
			// SIPp loads the pcap with the scenario, whichever way it keys.
			sent := writePcap(t, filepath.Join(dir, "dtmf-keys.pcap"), keys)
			media := testkit.NewPeer(t)
			ivrSide := newAnswerer(t, media.Port(), tc.contact)
			if err := os.WriteFile(filepath.Join(dir, "courier.csv"),
				fmt.Appendf(nil, "SEQUENTIAL\n13800000001;8617100000001;%s;\n", tc.keys), 0o644); err != nil {
				t.Fatal(err)
			}
			sippMedia := freePortPair(t)
			hold := 500 * time.Millisecond
			if tc.keying == "pcap" {
				hold += sent[len(sent)-1].At
			}
			cmd := sippCmd(t, dir, ivrSide.addr, "-sf", scenario(t, "uac-courier.xml"),
				"-inf", "courier.csv", "-set", "keying", tc.keying,
				"-p", strconv.Itoa(testkit.FixedPorts(t, 1)), "-mp", strconv.Itoa(sippMedia),
				"-d", strconv.Itoa(int(hold/time.Millisecond)))
			out, err := cmd.CombinedOutput()
			if tc.want != "" {
				if err == nil || !strings.Contains(sippErrors(t, dir), tc.want) || sippStat(t, dir, tc.stat) != "1" {
					t.Fatalf("sipp: %v, want a call failed on %q; errors:\n%s", err, tc.want, lastBytes(sippErrors(t, dir), 2000))
				}
				return
			}
			if err != nil {
				t.Fatalf("sipp: %v\n%s\n%s", err, lastBytes(string(out), 2000), lastBytes(sippErrors(t, dir), 2000))
			}
			got := ivrSide.result()
			if got.byes != 1 || got.acks != 1 {
				t.Fatalf("the stand-in saw %d ACK and %d BYE, want 1 each", got.acks, got.byes)
			}
			if tc.keying == "info" {
				if got.infoKeys != keys {
					t.Fatalf("INFOs keyed %q, want %q", got.infoKeys, keys)
				}
				return
			}
			if got.infoKeys != "" {
				t.Fatalf("the pcap variant sent INFOs keying %q", got.infoKeys)
			}
			arrived := 0
			for i := range sent {
				d, ok := media.Next(5 * time.Second)
				if !ok {
					break
				}
				if d.From.Port() != uint16(sippMedia) {
					t.Fatalf("RTP from %s, not SIPp's media port %d", d.From, sippMedia)
				}
				if !bytes.Equal(d.Data, sent[i].RTP) {
					t.Fatalf("packet %d arrived as % x, the pcap holds % x", i, d.Data, sent[i].RTP)
				}
				arrived++
			}
			if arrived != len(sent) {
				t.Fatalf("%d of the pcap's %d packets arrived", arrived, len(sent))
			}
		})
	}
}

// writePcap builds dtmfpcap's default stream for keys into path.
func writePcap(t *testing.T, path, keys string) []dtmfpcap.Packet {
	t.Helper()
	packets, err := dtmfpcap.Keys(keys)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := dtmfpcap.WritePcap(f, packets); err != nil {
		t.Fatal(err)
	}
	return packets
}

// answerer plays the engine's answering side of a courier call: it answers
// the INVITE with an SDP pointing at the test's media peer (and a Contact
// of the given user), answers each INFO with 200 and reads the key in it,
// and answers the BYE.
type answerer struct {
	addr string
	mu   sync.Mutex
	seen answered
}

type answered struct {
	acks, byes int
	infoKeys   string
}

func (a *answerer) result() answered {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen
}

func newAnswerer(t *testing.T, mediaPort int, contactUser string) *answerer {
	t.Helper()
	ua := testkit.NewUDPUA(t, "ivr")
	a := &answerer{addr: ua.Addr}
	contact := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: contactUser, Host: ua.Host, Port: ua.Port}}
	ua.Server.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 200, "OK",
			testkit.Offer{User: "ivr", Session: 1, Port: mediaPort, Formats: []int{0, 101}}.SDP())
		res.AppendHeader(contact)
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		_ = tx.Respond(res)
	})
	ua.Server.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		a.mu.Lock()
		a.seen.acks++
		a.mu.Unlock()
	})
	ua.Server.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		ct := ""
		if h := req.ContentType(); h != nil {
			ct = h.Value()
		}
		key, err := ivr.DigitFromInfo(ct, req.Body())
		if err != nil {
			t.Errorf("INFO %q %q: %v", ct, req.Body(), err)
			_ = tx.Respond(sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil))
			return
		}
		a.mu.Lock()
		a.seen.infoKeys += string(key)
		a.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	ua.Server.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		a.mu.Lock()
		a.seen.byes++
		a.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	ua.ServeUDP()
	return a
}
