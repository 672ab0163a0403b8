package media

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEngineSDPGolden renders, for every input of testdata/sdp (offers and
// answers with hostile lines of every kind) and of testdata/engine, the
// engine's answer to it as A's offer and the offer the engine then makes to
// B, and compares them with testdata/engine/<name>.golden ("error: ..."
// for an offer the engine answers with 488). Both must hold what every
// rewrite holds (checkRewritten: allowlisted lines only, no address or
// token of A's) and carry nothing but the chosen codec and telephone-event.
// Regenerate with -update and read the diff.
func TestEngineSDPGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/sdp/*.sdp")
	more, err2 := filepath.Glob("testdata/engine/*.sdp")
	if err != nil || err2 != nil || len(inputs) == 0 || len(more) == 0 {
		t.Fatalf("no golden inputs: %v %v", err, err2)
	}
	for _, in := range append(inputs, more...) {
		name := strings.TrimSuffix(filepath.Base(in), ".sdp")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			relay := goldenRelay(in)
			var got []byte
			answer, offer, ports, err := engineSDP(raw, relay)
			switch {
			case errors.Is(err, ErrUnsupportedMedia):
				got = []byte("error: " + err.Error() + "\n")
			case err != nil:
				t.Fatalf("parse: %v", err)
			default:
				got = append(append(append([]byte("--- answer to A\r\n"), answer...), "--- offer to B\r\n"...), offer...)
			}
			golden := filepath.Join("testdata", "engine", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
			checkEngineSDP(t, raw, answer, offer, relay, ports)
		})
	}
}

// TestEngineLateOfferGolden: the engine's offer to an A whose INVITE had
// no SDP (OfferA).
func TestEngineLateOfferGolden(t *testing.T) {
	got := engineDesc(lateOfferShapes, 0, lateOfferPCMU, DirSendRecv, lateOfferPCMA).render(
		rewriteParams{ip: goldenRelayIP, ports: []int{40000}, sessID: goldenSessID, version: goldenVersion})
	golden := filepath.Join("testdata", "engine", "late-offer.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%v; got\n%s\nwant\n%s", err, got, want)
	}
}

// engineSDP is what Answer and OfferB make of raw as A's offer, with the
// engine's stream on port 40000.
func engineSDP(raw []byte, relay netip.Addr) (answer, offer []byte, ports []int, err error) {
	d, err := parseSDP(raw, relay)
	if err != nil {
		return nil, nil, nil, err
	}
	i, f, err := d.engineStream()
	if err != nil {
		return nil, nil, nil, err
	}
	ports = make([]int, len(d.media))
	ports[i] = 40000
	shapes := d.shapesOf(i)
	p := rewriteParams{ip: relay, ports: ports, sessID: goldenSessID, version: goldenVersion}
	answer = engineDesc(shapes, i, f, answerDirection(d.directions()[i])).render(p)
	offer = engineDesc(shapes, i, f, DirSendRecv).render(p)
	return answer, offer, ports, nil
}

// checkEngineSDP: the engine's SDP holds what every rewrite holds
// (checkRewritten) and no codec but G.711 and telephone-event.
func checkEngineSDP(t *testing.T, raw, answer, offer []byte, relay netip.Addr, ports []int) {
	t.Helper()
	for _, out := range [][]byte{answer, offer} {
		if out == nil {
			continue
		}
		checkRewritten(t, raw, out, relay, ports)
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\r\n") {
			if v, ok := strings.CutPrefix(l, "a=rtpmap:"); ok && !strings.Contains(v, " PCMU/8000") &&
				!strings.Contains(v, " PCMA/8000") && !strings.Contains(v, " telephone-event/8000") {
				t.Errorf("the engine's SDP carries another codec: %s", l)
			}
		}
	}
}

// FuzzEngineSDP: whatever A offers, the engine's answer and its offer to B
// parse, hold only allowlisted lines and none of A's addresses or tokens,
// or the offer is refused with ErrMalformedSDP or ErrUnsupportedMedia.
func FuzzEngineSDP(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/sdp/*.sdp")
	more, _ := filepath.Glob("testdata/engine/*.sdp")
	for _, in := range append(inputs, more...) {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, relay := range []netip.Addr{goldenRelayIP, goldenRelayIP6} {
			answer, offer, ports, err := engineSDP(in, relay)
			if err != nil {
				if !errors.Is(err, ErrMalformedSDP) && !errors.Is(err, ErrUnsupportedMedia) {
					t.Fatalf("error %v wraps neither ErrMalformedSDP nor ErrUnsupportedMedia", err)
				}
				continue
			}
			checkEngineSDP(t, in, answer, offer, relay, ports)
		}
	})
}
