package number

import (
	"errors"
	"fmt"
	"strings"
)

// Style is the form a trunk wants numbers in. Carriers and PBXs differ:
// some want +E.164, some the digits without '+', some the national number
// with or without the trunk prefix.
type Style int

const (
	// PlusE164 is "+8613800000001", the global form of RFC 3966.
	PlusE164 Style = iota
	// E164 is "8613800000001": the digits without '+', as softphones that
	// register under their bare number expect.
	E164
	// National is "13800000001", "1012345678": the national significant
	// number of the trunk's country. A number of another country keeps its
	// country code behind the country's international prefix
	// ("00447911123456" in China, "011..." in NANP), so it can never be
	// mistaken for a national one; where the country has no international
	// prefix without a carrier code (Brazil, Colombia) it is "+E.164".
	National
	// National0 is National with the trunk prefix: "013800000001",
	// "01012345678"; the same as National where the country has none
	// (Italy). Other countries' numbers are written as for National.
	National0
)

var styleNames = [...]string{PlusE164: "+e164", E164: "e164", National: "national", National0: "national0"}

func (s Style) String() string {
	if s >= 0 && int(s) < len(styleNames) {
		return styleNames[s]
	}
	return fmt.Sprintf("style(%d)", int(s))
}

// ParseStyle reads a style by its name: +e164, e164, national, national0.
func ParseStyle(name string) (Style, error) {
	for i, n := range styleNames {
		if name == n {
			return Style(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not one of %s", name, strings.Join(styleNames[:], ", "))
}

// Format writes canonical E.164 digits e164 in style s for a trunk in
// country c (nil: DefaultCountry). It trusts e164 to be canonical (what
// Normalize returned).
func Format(e164 string, s Style, c *Country) string {
	switch s {
	case E164:
		return e164
	case National, National0:
		if c == nil {
			c = DefaultCountry()
		}
		// Calling codes are a prefix code: canonical digits that start with
		// c's code are a number of c (or of its NANP-like siblings, which
		// are dialled nationally too).
		if strings.HasPrefix(e164, c.plan.cc) {
			if s == National0 {
				return c.plan.trunk + e164[len(c.plan.cc):]
			}
			return e164[len(c.plan.cc):]
		}
		if c.out != "" {
			return c.out + e164
		}
	}
	return "+" + e164
}

// Trunk is how the B leg writes numbers towards the outbound trunk: the
// style of the callee (Request-URI, To) and of the number shown (From,
// P-Asserted-Identity), the tech prefix in front of the callee, and whether
// the URIs carry user=phone.
type Trunk struct {
	Style Style
	// Prefix is a tech prefix (routing code) put in front of the callee's
	// number, e.g. "10193". It selects the route on the trunk, so it goes
	// where the trunk routes on (Request-URI and To), never in front of
	// the number shown as the caller.
	Prefix string
	// UserPhone adds ";user=phone" (RFC 3261 19.1.1) to all four URIs.
	UserPhone bool
	// Country is the trunk's country for the national styles; nil is
	// DefaultCountry.
	Country *Country
}

// DefaultTrunk is +E.164 with user=phone and no prefix.
func DefaultTrunk() Trunk { return Trunk{Style: PlusE164, UserPhone: true} }

// DefaultUserPhone is the user=phone setting a style gets unless told
// otherwise: on for +E.164 (a global number, what user=phone describes);
// off for the others, which are local numbers without the phone-context
// RFC 3966 would want, and which a softphone registered under its bare
// number would not match (RFC 3261 19.1.4: a URI with user= is not
// equivalent to one without).
func DefaultUserPhone(s Style) bool { return s == PlusE164 }

// maxPrefix bounds a tech prefix; carriers' routing codes are 3-8 digits.
const maxPrefix = 16

// Errors of Trunk.Check.
var (
	ErrPrefixDigits = errors.New("a tech prefix is 1-16 digits")
	ErrPrefixPlus   = errors.New("a tech prefix cannot stand before a +E.164 number; use the e164, national or national0 style")
)

// Check reports whether t can be used.
func (t Trunk) Check() error {
	if t.Style < PlusE164 || t.Style > National0 {
		return fmt.Errorf("unknown style %d", int(t.Style))
	}
	if t.Prefix == "" {
		return nil
	}
	if len(t.Prefix) > maxPrefix || !isDigitString(t.Prefix) {
		return fmt.Errorf("%q: %w", t.Prefix, ErrPrefixDigits)
	}
	if t.Style == PlusE164 {
		return ErrPrefixPlus
	}
	return nil
}

// Callee is the user part of the B leg's Request-URI and To.
func (t Trunk) Callee(e164 string) string { return t.Prefix + Format(e164, t.Style, t.Country) }

// Shown is the user part of the B leg's From and P-Asserted-Identity.
func (t Trunk) Shown(e164 string) string { return Format(e164, t.Style, t.Country) }
