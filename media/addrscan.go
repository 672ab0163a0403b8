package media

import (
	"net/netip"
	"strings"
)

// hasForeignAddr reports whether s contains an IPv4 or IPv6 literal other
// than allowed. It is the safety net behind the explicit rewrites: a line it
// flags (an a=ssrc cname:user@192.0.2.1, a vendor attribute with an address)
// is dropped rather than sent to the other party. It looks at maximal runs of
// hex digits, dots and colons, so a DTLS fingerprint (too many groups), a
// version number (too few dots) or a base64 key (no dots or colons) passes.
//
// A second pass over runs of digits and dots alone finds a dotted quad glued
// to hex letters ("192.0.2.1abc"), which the first pass reads as one run.
func hasForeignAddr(s string, allowed netip.Addr) bool {
	return scanRuns(s, addrChar, allowed) || scanRuns(s, quadChar, allowed)
}

func scanRuns(s string, in func(byte) bool, allowed netip.Addr) bool {
	for i := 0; i < len(s); {
		if !in(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && in(s[j]) {
			j++
		}
		if a, ok := addrInRun(s[i:j]); ok && a != allowed {
			return true
		}
		i = j
	}
	return false
}

func quadChar(c byte) bool { return c >= '0' && c <= '9' || c == '.' }

func addrChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':'
}

// addrInRun parses a run as an address, forgiving the punctuation that
// surrounds addresses in text: a trailing dot, a "cname:" style prefix or a
// ":port" suffix.
func addrInRun(run string) (netip.Addr, bool) {
	run = strings.Trim(run, ".")
	if strings.Count(run, ".") < 3 && strings.Count(run, ":") < 2 {
		return netip.Addr{}, false // cheap exit for ordinary words and numbers
	}
	// Try the run as it is, without a colon-led prefix, without a
	// colon-led suffix, and without both; never taking "::" apart.
	starts, ends := []int{0}, []int{len(run)}
	if i := strings.IndexByte(run, ':'); i >= 0 && !strings.HasPrefix(run[i:], "::") {
		starts = append(starts, i+1)
	}
	if i := strings.LastIndexByte(run, ':'); i > 0 && run[i-1] != ':' {
		ends = append(ends, i)
	}
	for _, from := range starts {
		for _, to := range ends {
			if from < to {
				if a, ok := parseAddrLoose(run[from:to]); ok {
					return a, true
				}
			}
		}
	}
	return netip.Addr{}, false
}

// parseAddrLoose is netip.ParseAddr plus dotted quads with leading zeros
// (192.000.002.001), which ParseAddr rejects but many stacks still read.
func parseAddrLoose(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	var quad [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	for i, p := range parts {
		n, err := parseUint(p, 255)
		if err != nil || len(p) > 3 {
			return netip.Addr{}, false
		}
		quad[i] = byte(n)
	}
	return netip.AddrFrom4(quad), true
}
