package routing

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalidNumber is wrapped by every error of Normalize: the input cannot
// be turned into a number xbridge routes on.
var ErrInvalidNumber = errors.New("invalid number")

const (
	minDigits = 6  // shortest canonical number (small countries' short E.164)
	maxDigits = 15 // E.164 maximum
	// maxInput bounds the work done on one input; carriers' user parts with
	// parameters (npdi, rn, cic) stay far below it.
	maxInput = 256
	// maxScanDigits allows for dialling prefixes (00, 011, trunk 0) in front
	// of a full-length number before the length check of the result.
	maxScanDigits = maxDigits + 4
)

// withheld are the user parts carriers put in From when the caller hides
// their number; they get their own message so logs say what happened.
var withheld = []string{"anonymous", "unknown", "unavailable", "private", "restricted", "withheld", "anonymous.invalid"}

// Normalize turns a number as carriers and platforms write it into the
// canonical form: E.164 digits without '+', e.g. "8617000000001".
//
// It accepts the international forms (+CC..., 00CC..., CC... already
// canonical), national forms of countryCode (trunk prefix 0, and the national
// numbers that are written without one: Chinese mobiles, NANP), tel: URIs with
// RFC 3966 parameters (phone-context is used, the rest ignored), SIP user
// parts with parameters after ';', percent escapes and visual separators.
//
// The result is a fixed point: Normalize(Normalize(s)) == Normalize(s). An
// international number whose digits would read as a national number of
// countryCode (with "86": a NANP +1 number shaped like a Chinese mobile) is
// refused rather than silently turned into another number.
func Normalize(s, countryCode string) (string, error) {
	out, err := normalize(s, countryCode)
	if err != nil {
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		var rs reason
		if !errors.As(err, &rs) {
			rs = reason(err.Error())
		}
		return "", &numberError{input: s, reason: rs}
	}
	return out, nil
}

// reason is a Normalize failure before the input is attached to it.
type reason string

func (r reason) Error() string { return string(r) }

// numberError is what Normalize returns: the input and why it is refused.
// It is ErrInvalidNumber to errors.Is, and its reason to errors.As.
type numberError struct {
	input  string
	reason reason
}

func (e *numberError) Error() string {
	return fmt.Sprintf("%s %q: %s", ErrInvalidNumber, e.input, e.reason)
}

func (e *numberError) Unwrap() []error { return []error{ErrInvalidNumber, e.reason} }

func reasonf(format string, args ...any) error { return reason(fmt.Sprintf(format, args...)) }

func normalize(s, cc string) (string, error) {
	if !validCountryCode(cc) {
		return "", reasonf("country code %q is not 1-3 digits without leading 0", cc)
	}
	s = strings.TrimSpace(s)
	if len(s) > maxInput {
		return "", reasonf("longer than %d characters", maxInput)
	}
	if strings.IndexByte(s, '%') >= 0 {
		u, err := url.PathUnescape(s)
		if err != nil {
			return "", reason("bad percent-escape")
		}
		s = strings.TrimSpace(u)
	}
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	number, params, _ := strings.Cut(s, ";")
	number = strings.TrimSpace(number)
	if number == "" {
		return "", reason("empty")
	}

	var buf, out [maxScanDigits + 3]byte
	plus, digits, err := scanNumber(number, buf[:0])
	if err != nil {
		return "", err
	}

	var d []byte
	if ctx := phoneContext(params); !plus && strings.HasPrefix(ctx, "+") {
		d, err = withContext(out[:0], digits, ctx)
		if err != nil {
			return "", err
		}
	} else {
		d = canonical(out[:0], plus, digits, cc)
	}

	switch {
	case len(d) == 0 || d[0] == '0':
		return "", reason("no country code (international numbers cannot start with 0)")
	case len(d) < minDigits:
		return "", reasonf("too short (%d digits, need at least %d)", len(d), minDigits)
	case len(d) > maxDigits:
		return "", reasonf("too long (%d digits, at most %d)", len(d), maxDigits)
	case !hasPrefix(d, cc) && national(cc, d):
		return "", reasonf("international number +%s reads as a national number of +%s", string(d), cc)
	}
	return string(d), nil
}

// canonical applies the dialling conventions of country cc to digits that
// have no phone-context. The result is digits itself, a tail of it, or built
// in dst.
func canonical(dst []byte, plus bool, digits []byte, cc string) []byte {
	if plus {
		return digits
	}
	if p := internationalPrefix(cc, digits); p > 0 {
		return digits[p:]
	}
	switch {
	case digits[0] == '0': // national with trunk prefix
		return append(append(dst, cc...), digits[1:]...)
	case hasPrefix(digits, cc): // already canonical
		return digits
	case national(cc, digits):
		return append(append(dst, cc...), digits...)
	}
	return digits
}

// withContext resolves a local number under an RFC 3966 global
// phone-context such as "+86" (a country code: the local number is read by
// that country's conventions) or "+86-10" (a longer prefix: prepended).
func withContext(dst, digits []byte, ctx string) ([]byte, error) {
	var buf [maxScanDigits]byte
	plus, prefix, err := scanNumber(ctx, buf[:0])
	if err != nil || !plus || prefix[0] == '0' {
		return nil, reasonf("bad phone-context %q", ctx)
	}
	if len(prefix) <= 3 {
		return canonical(dst, false, digits, string(prefix)), nil
	}
	if digits[0] == '0' {
		digits = digits[1:]
	}
	return append(append(dst, prefix...), digits...), nil
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

// national reports whether d, written without a trunk prefix, is a national
// number of country cc. Only the countries whose national numbers are
// commonly written without a trunk prefix are known; elsewhere a bare digit
// string is taken as already international.
func national(cc string, d []byte) bool {
	switch cc {
	case "86": // mobile numbers: 1xx xxxx xxxx
		return len(d) == 11 && d[0] == '1'
	case "1": // NANP: NXX NXX XXXX
		return len(d) == 10 && d[0] >= '2'
	}
	return false
}

// internationalPrefix returns the length of the international call prefix
// d starts with in country cc, or 0.
func internationalPrefix(cc string, d []byte) int {
	if cc == "1" && hasPrefix(d, "011") {
		return 3
	}
	if hasPrefix(d, "00") {
		return 2
	}
	return 0
}

// hasPrefix is strings.HasPrefix for a byte slice, without converting it.
func hasPrefix(d []byte, prefix string) bool {
	return len(d) >= len(prefix) && string(d[:len(prefix)]) == prefix
}

func validCountryCode(cc string) bool {
	if len(cc) < 1 || len(cc) > 3 || cc[0] == '0' {
		return false
	}
	for i := 0; i < len(cc); i++ {
		if cc[i] < '0' || cc[i] > '9' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
