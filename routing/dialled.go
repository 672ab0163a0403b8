package routing

import "strings"

// Carriers hand over digits a caller keyed after X in one of these forms:
//   - a parameter of the Request-URI or tel: URI: ";ext=1234" (RFC 3966),
//     ";isub=1234" (RFC 3966 subaddress), ";postd=pp1234" (post-dial
//     digits, RFC 4715), either in the user part ("17012345678;ext=1234")
//     or on the URI (DialledParams);
//   - the digits directly after X ("170123456781234"), which only the pool
//     can tell apart: X is the longest prefix that is a pool number.

// extensionParams are the parameter names read for an extension, in the
// order they are tried.
var extensionParams = [...]string{"ext", "postd", "isub"}

// maxExtensionDigits bounds an extension (store: 1-6 digits).
const maxExtensionDigits = 6

// ExtensionParam finds an extension in the parameters of a dialled number:
// those after ';' in user, then params (names in lower case). It returns
// user without the parameter that held the extension, and the extension's
// digits; with none it returns user and "". Pauses and a closing '#' of
// post-dial digits are dropped; a value with anything else in it is not an
// extension.
func ExtensionParam(user string, params map[string]string) (number, ext string) {
	num, rest, hasParams := strings.Cut(user, ";")
	if hasParams {
		for _, name := range extensionParams {
			kept, v, ok := cutParam(rest, name)
			if !ok {
				continue
			}
			if digits, ok := extensionDigits(v); ok {
				if kept == "" {
					return num, digits
				}
				return num + ";" + kept, digits
			}
		}
	}
	for _, name := range extensionParams {
		if digits, ok := extensionDigits(params[name]); ok {
			return user, digits
		}
	}
	return user, ""
}

// cutParam finds name=value in ';'-separated params (names compared without
// case) and returns the others joined again.
func cutParam(params, name string) (kept, value string, found bool) {
	var others []string
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if !found && strings.EqualFold(strings.TrimSpace(k), name) {
			value, found = strings.TrimSpace(v), true
			continue
		}
		others = append(others, p)
	}
	return strings.Join(others, ";"), value, found
}

// extensionDigits reads the digits of an extension value: pause characters
// (p, w, ',') are dropped, '#' ends it.
func extensionDigits(v string) (string, bool) {
	v, _, _ = strings.Cut(v, "#")
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == 'p', c == 'P', c == 'w', c == 'W', c == ',':
		default:
			return "", false
		}
	}
	if b.Len() == 0 || b.Len() > maxExtensionDigits {
		return "", false
	}
	return b.String(), true
}

// SplitTrailing splits a dialled number that is X followed directly by an
// extension: the longest prefix (keeping 1-6 trailing digits) for which
// isPool says it is a pool number is X. Parameters after ';' stay with X.
func SplitTrailing(user string, isPool func(number string) bool) (number, ext string, ok bool) {
	num, params, hasParams := strings.Cut(user, ";")
	num = strings.TrimSpace(num)
	for k := 1; k <= maxExtensionDigits && k < len(num); k++ {
		tail := num[len(num)-k:]
		if !isDigitString(tail) {
			break
		}
		head := num[:len(num)-k]
		if hasParams {
			head += ";" + params
		}
		if isPool(head) {
			return head, tail, true
		}
	}
	return user, "", false
}

// SplitDialled is ExtensionParam, then SplitTrailing when no parameter held
// an extension and user is not itself a pool number: what the caller
// dialled as (X, extension digits).
func SplitDialled(user string, params map[string]string, isPool func(number string) bool) (number, ext string) {
	if number, ext = ExtensionParam(user, params); ext != "" {
		return number, ext
	}
	if isPool(user) {
		return user, ""
	}
	if number, ext, ok := SplitTrailing(user, isPool); ok {
		return number, ext
	}
	return user, ""
}

func isDigitString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
