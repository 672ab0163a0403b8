package media

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRewrite feeds arbitrary bytes to the SDP parser and, when they parse,
// checks the rewrite: it must not panic, must parse again with the same m=
// lines, and no line of it may hold an address other than the relay's.
func FuzzRewrite(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/sdp/*.sdp")
	for _, in := range inputs {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(b)
		}
	}
	for _, tt := range malformedSDP {
		f.Add([]byte(tt.sdp))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := parseSDP(in)
		if err != nil {
			if !errors.Is(err, ErrMalformedSDP) {
				t.Fatalf("error %v does not wrap ErrMalformedSDP", err)
			}
			return
		}
		ports := goldenPorts(d)
		out := d.render(rewriteParams{ip: goldenRelayIP, ports: ports, sessID: 1, version: 1})
		back, err := parseSDP(out)
		if err != nil {
			t.Fatalf("rewrite does not parse: %v\nin:  %q\nout: %q", err, in, out)
		}
		if len(back.media) != len(d.media) {
			t.Fatalf("rewrite has %d m= lines, input %d\nout: %q", len(back.media), len(d.media), out)
		}
		for i, m := range back.media {
			if m.port != ports[i] {
				t.Fatalf("m= %d: port %d, want %d\nout: %q", i+1, m.port, ports[i], out)
			}
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n") {
			if hasForeignAddr(l, goldenRelayIP) {
				t.Fatalf("rewrite line %q holds a foreign address\nin: %q", l, in)
			}
		}
	})
}
