package number

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Validate is Normalize for the numbers the API is given (binding parties,
// pool numbers): the same reading, so every call finds what the API stored,
// and then libphonenumber must call the result a valid number (a range in
// use in its country's numbering plan), so a mistyped number is refused
// when the binding is made rather than never matching a call.
//
// It costs a libphonenumber parse (see BenchmarkValidate), which is why the
// per-call path uses Normalize alone.
func (c *Country) Validate(s string) (string, error) {
	e, err := c.Normalize(s)
	if err != nil {
		return "", err
	}
	var pn phonenumbers.PhoneNumber
	if err := phonenumbers.ParseToNumber("+"+e, c.region, &pn); err != nil {
		return "", newError(s, reasonf("libphonenumber cannot read +%s: %v", e, err))
	}
	if !phonenumbers.IsValidNumber(&pn) {
		hint := ""
		written := strings.ToLower(s)
		if strings.HasPrefix(e, c.plan.cc) && !strings.Contains(written, "+") && !strings.Contains(written, "%2b") {
			hint = "; write numbers of other countries with + or an international prefix"
		}
		return "", newError(s, reasonf("+%s is not a valid number (no such range in the numbering plan of +%d)%s", e, pn.GetCountryCode(), hint))
	}
	// Both read the same metadata; a difference would mean the stored number
	// is not the one libphonenumber validated.
	if got := phonenumbers.Format(&pn, phonenumbers.E164); got != "+"+e {
		return "", newError(s, reasonf("reads as +%s here but as %s to libphonenumber", e, got))
	}
	return e, nil
}
