// Package number reads telephone numbers as carriers and platforms write
// them and writes them the way a trunk expects. The canonical form, what the
// store holds and routing compares, is E.164 digits without '+'
// ("8613800000001").
//
// Two readers share one set of rules: Country.Normalize, run on every
// INVITE, is a hand-written scanner that allocates only its result; and
// Country.Validate, for what the API is given, is Normalize followed by
// libphonenumber's validity check (github.com/nyaruka/phonenumbers). So a
// number the API stored is found again by every call that writes it in any
// of the forms Normalize accepts. Both read the country calling code table,
// the lengths and the trunk prefixes from libphonenumber's metadata.
//
// The package knows nothing of SIP: callers hand it user parts and tel URIs
// as text.
package number

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalid is wrapped by every error of Normalize and Validate: the input
// cannot be turned into a number xbridge routes on.
var ErrInvalid = errors.New("invalid number")

// Error is what Normalize and Validate return: the input (shortened) and
// why it is refused. It is ErrInvalid to errors.Is.
type Error struct {
	Input  string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%s %q: %s", ErrInvalid, e.Input, e.Reason) }

func (e *Error) Unwrap() error { return ErrInvalid }

func newError(input string, err error) *Error {
	if len(input) > 40 {
		input = input[:40] + "..."
	}
	return &Error{Input: input, Reason: err.Error()}
}

// reason is a failure before the input is attached to it.
type reason string

func (r reason) Error() string { return string(r) }

func reasonf(format string, args ...any) error { return reason(fmt.Sprintf(format, args...)) }

const (
	maxDigits = 15 // E.164 maximum, country code included
	// maxInput bounds the work done on one input; carriers' user parts with
	// parameters (npdi, rn, cic) stay far below it.
	maxInput = 256
	// maxScanDigits leaves room for an international prefix (up to 7
	// digits with a carrier code) in front of a full-length number.
	maxScanDigits = maxDigits + 8
)

// withheld are the user parts carriers put in From when the caller hides
// their number; they get their own message so logs say what happened.
var withheld = []string{"anonymous", "unknown", "unavailable", "private", "restricted", "withheld", "anonymous.invalid"}

// Normalize turns a number as carriers write it into canonical E.164 digits
// without '+', e.g. "8613800000001". It is cheap enough for every INVITE
// (no regular expression on the common paths, one allocation: the result).
//
// It reads:
//   - international numbers: "+CC...", the country's international prefixes
//     ("00CC..." in China, "011CC..." in NANP) and RFC 3966 tel URIs;
//     the country calling code is read off the table of assigned codes (1-3
//     digits), never guessed;
//   - national numbers of c, with the trunk prefix ("010 1234 5678") or
//     without ("138 0000 0001", "10 1234 5678");
//   - c's own numbers as E.164 digits without '+' ("8613800000001"), when
//     they cannot be a national number (too long, or outside c's NSN
//     pattern), as libphonenumber reads them;
//   - local numbers under a global phone-context ("tel:07911123456;
//     phone-context=+44", "tel:12345678;phone-context=+86-10");
//   - SIP user parts with ';' parameters, percent escapes (%2B) and visual
//     separators.
//
// A number without '+', an international prefix or a phone-context is a
// number of c: "2125550100" with c = CN is +86 21 2555 0100 (Shanghai),
// never +212 (Morocco). Numbers of other countries must be written
// international. The result is a fixed point of the international form:
// Normalize("+" + Normalize(s)) == Normalize(s).
func (c *Country) Normalize(s string) (string, error) {
	var buf [maxScanDigits]byte
	d, err := c.normalize(s, buf[:0])
	if err != nil {
		return "", newError(s, err)
	}
	return string(d), nil
}

func (c *Country) normalize(s string, out []byte) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxInput {
		return nil, reasonf("longer than %d characters", maxInput)
	}
	if strings.IndexByte(s, '%') >= 0 {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, reason("bad percent-escape")
		}
		s = strings.TrimSpace(u)
	}
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	num, params, _ := strings.Cut(s, ";")
	num = strings.TrimSpace(num)
	if num == "" {
		return nil, reason("empty")
	}
	var buf [maxScanDigits]byte
	plus, digits, err := scanNumber(num, buf[:0])
	if err != nil {
		return nil, err
	}
	switch ctx := phoneContext(params); {
	case plus:
		return international(out, digits)
	case strings.HasPrefix(ctx, "+"):
		return c.inContext(out, digits, ctx)
	}
	return c.national(out, digits)
}

// international reads digits that follow '+' or an international prefix.
func international(out, d []byte) ([]byte, error) {
	p := callingCode(d)
	if p == nil {
		if d[0] == '0' {
			return nil, reason("no country calling code (international numbers cannot start with 0)")
		}
		return nil, reasonf("+%s is no assigned country calling code", string(d[:min(3, len(d))]))
	}
	return complete(out, p, p.stripTrunk(d[len(p.cc):]), false)
}

// national reads digits written without '+' as a number of c.
func (c *Country) national(out, d []byte) ([]byte, error) {
	if n := c.internationalPrefix(d); n > 0 {
		return international(out, d[n:])
	}
	p := c.plan
	// c's own number in E.164 without '+': strip the country code when the
	// digits cannot be a national number but the rest can.
	if hasPrefix(d, p.cc) && p.cc != p.trunk {
		rest := d[len(p.cc):]
		if p.possible(len(rest)) && (!p.possible(len(d)) || !p.nsn(d) && p.nsn(rest)) {
			return complete(out, p, p.stripTrunk(rest), true)
		}
	}
	return complete(out, p, p.stripTrunk(d), true)
}

// inContext resolves a local number under an RFC 3966 global phone-context:
// "+44" (a country calling code: the number is national there) or "+86-10"
// (a longer prefix: country code and area code, the number follows it).
func (c *Country) inContext(out, digits []byte, ctx string) ([]byte, error) {
	var buf [maxScanDigits]byte
	plus, prefix, err := scanNumber(ctx, buf[:0])
	if err != nil || !plus {
		return nil, reasonf("bad phone-context %q", ctx)
	}
	p := callingCode(prefix)
	if p == nil {
		return nil, reasonf("bad phone-context %q: no country calling code", ctx)
	}
	if len(prefix) == len(p.cc) {
		if p == c.plan {
			return c.national(out, digits)
		}
		return complete(out, p, p.stripTrunk(digits), false)
	}
	if len(prefix)+len(digits) > maxScanDigits {
		return nil, reasonf("too long (more than %d digits)", maxDigits)
	}
	nsn := append(prefix[len(p.cc):], digits...)
	return complete(out, p, p.stripTrunk(nsn), false)
}

// complete appends country code and NSN to out after checking the NSN's
// length against the lengths the code uses. Only the range is checked, not
// each length: a carrier's caller from a range newer than the metadata
// still gets a number (the API's Validate is the strict one).
func complete(out []byte, p *plan, nsn []byte, national bool) ([]byte, error) {
	hint := ""
	if national {
		hint = "; write numbers of other countries with + or an international prefix"
	}
	switch {
	case len(nsn) < p.min:
		return nil, reasonf("too short (%d digits after +%s, at least %d)%s", len(nsn), p.cc, p.min, hint)
	case len(nsn) > p.max || len(p.cc)+len(nsn) > maxDigits:
		return nil, reasonf("too long (%d digits after +%s, at most %d)%s", len(nsn), p.cc, min(p.max, maxDigits-len(p.cc)), hint)
	}
	return append(append(out, p.cc...), nsn...), nil
}

// stripTrunk removes the trunk prefix from an NSN written with it ("0 10
// 1234 5678", "+44 (0)20 ...") when what follows has a possible length and,
// where both readings have one, the pattern does not say the prefix is part
// of the number. It strips only where the result would not be stripped
// again, so the result is a fixed point.
func (p *plan) stripTrunk(d []byte) []byte {
	if p.hasTrunk(d) && !p.hasTrunk(d[len(p.trunk):]) {
		return d[len(p.trunk):]
	}
	return d
}

// hasTrunk reports whether d reads as the trunk prefix and an NSN.
func (p *plan) hasTrunk(d []byte) bool {
	if !hasPrefix(d, p.trunk) {
		return false
	}
	rest := d[len(p.trunk):]
	if !p.possible(len(rest)) {
		return false
	}
	return !p.possible(len(d)) || !p.nsn(d) || p.nsn(rest)
}

// scanNumber collects the digits of a number, dropping RFC 3966 visual
// separators and spaces, and reports a leading '+'.
func scanNumber(s string, buf []byte) (plus bool, digits []byte, err error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if len(buf) == maxScanDigits {
				return false, nil, reasonf("too long (more than %d digits)", maxDigits)
			}
			buf = append(buf, c)
		case c == '-' || c == '.' || c == '(' || c == ')' || c == ' ' || c == '\t':
		case c == '+':
			if plus || len(buf) > 0 {
				return false, nil, reason("'+' not at the start")
			}
			plus = true
		case c == '*' || c == '#':
			return false, nil, reasonf("contains %q (a service code, not a number)", c)
		case isLetter(c):
			for _, w := range withheld {
				if strings.EqualFold(s, w) {
					return false, nil, reasonf("withheld number (%s)", strings.ToLower(s))
				}
			}
			return false, nil, reasonf("contains letter %q", c)
		default:
			return false, nil, reasonf("contains %q", c)
		}
	}
	if len(buf) == 0 {
		return false, nil, reason("no digits")
	}
	return plus, buf, nil
}

// phoneContext returns the value of the phone-context parameter, if any.
func phoneContext(params string) string {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "phone-context") {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// hasPrefix is strings.HasPrefix for a byte slice, without converting it.
func hasPrefix(d []byte, prefix string) bool {
	return prefix != "" && len(d) >= len(prefix) && string(d[:len(prefix)]) == prefix
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
