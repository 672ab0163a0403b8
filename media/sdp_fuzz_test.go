package media

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// FuzzRewrite feeds arbitrary bytes to the SDP parser for an IPv4 and an
// IPv6 relay and, when they parse, checks the rewrite: it must not panic,
// must parse again with the same m= lines and ports, may hold no line the
// allowlist does not admit and no address but the relay's, and no token of
// the input that the allowlist did not put there (leakedTokens). The seed
// corpus is testdata/sdp and testdata/fuzz/FuzzRewrite.
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
		for _, relay := range []netip.Addr{goldenRelayIP, goldenRelayIP6} {
			d, err := parseSDP(in, relay)
			if err != nil {
				if !errors.Is(err, ErrMalformedSDP) && !errors.Is(err, ErrUnsupportedMedia) {
					t.Fatalf("error %v wraps neither ErrMalformedSDP nor ErrUnsupportedMedia", err)
				}
				continue
			}
			ports := goldenPorts(d)
			out := d.render(rewriteParams{ip: relay, ports: ports, sessID: 1, version: 1})
			back, err := parseSDP(out, relay)
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
				if hasForeignAddr(l, relay) {
					t.Fatalf("rewrite line %q holds a foreign address\nin: %q", l, in)
				}
			}
			if bad := notAllowlisted(out); len(bad) > 0 {
				t.Fatalf("rewrite lines %q are not on the allowlist\nin: %q", bad, in)
			}
			if leaked := leakedTokens(in, out, relay); len(leaked) > 0 {
				t.Fatalf("rewrite carries %q of the input\nin:  %q\nout: %q", leaked, in, out)
			}
		}
	})
}

// sdpVocabulary is every word the allowlist itself may write, lower-cased:
// the names and keyword values of sdp_allow.go and the relay's own text.
// Nothing a sender writes can add to it.
func sdpVocabulary(relay netip.Addr) []string {
	words := []string{"xbridge", "in ip4", "in ip6", relay.String(), "yes", "no", "trr-int", "inline", "kdr", "wsh"}
	for w := range mediaAttrs {
		words = append(words, w)
	}
	for _, table := range []map[string]bool{mediaTypes, nonRTPFormats, codecs, evsBandwidths, rtcpFeedback, cryptoSessionParams, bandwidthTypes} {
		for w := range table {
			words = append(words, w)
		}
	}
	for w := range transports {
		words = append(words, w)
	}
	for w := range fmtpParams {
		words = append(words, w)
	}
	for w := range cryptoSuites {
		words = append(words, w)
	}
	words = append(words, silenceSuppWords.enable...)
	words = append(words, silenceSuppWords.pref...)
	words = append(words, silenceSuppWords.sidUse...)
	for i, w := range words {
		words[i] = strings.ToLower(w)
	}
	return words
}

var (
	sdpToken = regexp.MustCompile(`[A-Za-z0-9.@_-]{4,}`)
	// shortNumber is a decimal or a range of decimals (20, 29.97, 0-15,
	// 13.2-24.4) of fewer than 9 digits: a number the grammars let through,
	// never a phone number or an address.
	shortNumber = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(-[0-9]+(\.[0-9]+)?)?$`)
	// The sender's own material that passes by design: an SRTP key and
	// salt (SDES keys the call end to end) and a six-hex-digit H.264
	// profile-level-id. Both have fixed length and alphabet.
	ownMaterial = regexp.MustCompile(`(?i)inline:[A-Za-z0-9+/=]+|profile-level-id=[0-9a-f]{6}`)
)

// leakedTokens returns every token of in (a run of at least 4 bytes of
// [A-Za-z0-9.@_-]: user parts, host names, addresses, numbers) that is
// found in out, ignoring case, although the allowlist did not put it there:
// tokens that are short numbers or part of a vocabulary word are not
// counted, and SRTP keys and profile-level-id values are cut from out first.
func leakedTokens(in, out []byte, relay netip.Addr) []string {
	vocab := sdpVocabulary(relay)
	text := strings.ToLower(ownMaterial.ReplaceAllString(string(out), ""))
	var leaked []string
	seen := map[string]bool{}
	for _, tok := range sdpToken.FindAllString(string(in), -1) {
		tok = strings.ToLower(tok)
		if seen[tok] {
			continue
		}
		seen[tok] = true
		if shortNumber.MatchString(tok) && len(tok)-strings.Count(tok, ".")-strings.Count(tok, "-") < 9 {
			continue
		}
		inVocab := false
		for _, w := range vocab {
			inVocab = inVocab || strings.Contains(w, tok)
		}
		if !inVocab && strings.Contains(text, tok) {
			leaked = append(leaked, tok)
		}
	}
	return leaked
}
