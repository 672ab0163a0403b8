package media

import (
	"bytes"
	"errors"
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
			d, err := parseSDP(raw, relay)
			i, f := -1, audioFormat{}
			if err == nil {
				i, f, err = d.engineStream()
			}
			var answer, offer []byte
			var ports []int
			switch {
			case errors.Is(err, ErrUnsupportedMedia):
				got = []byte("error: " + err.Error() + "\n")
			case err != nil:
				t.Fatalf("parse: %v", err)
			default:
				ports = make([]int, len(d.media))
				ports[i] = 40000
				shapes := d.shapesOf(i)
				answer = engineDesc(shapes, i, f, answerDirection(d.directions()[i])).render(
					rewriteParams{ip: relay, ports: ports, sessID: goldenSessID, version: goldenVersion})
				offer = engineDesc(shapes, i, f, DirSendRecv).render(
					rewriteParams{ip: relay, ports: ports, sessID: goldenSessID, version: goldenVersion})
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
		})
	}
}
