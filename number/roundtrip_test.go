package number

import (
	"strings"
	"testing"
)

// roundTripNumbers are written as a platform would give them to the API,
// per default country.
var roundTripNumbers = map[string][]string{
	"CN": {
		"138 0013 8000", "17000000001", "+86 139 0000 0002", "010 1234 5678", "021 2555 0100",
		"0755 2345 6789", "+1 212 555 0100", "+44 7911 123456", "+39 06 1234 5678", "+7 916 123 45 67",
		"+49 30 1234567", "+81 3 1234 5678", "+61 2 9876 5432", "+354 611 1234", "+852 6123 4567",
	},
	"US": {"(212) 555-0100", "+1 415 555 2671", "+86 138 0013 8000", "+44 20 7946 0018"},
	"GB": {"020 7946 0018", "07911 123456", "+1 212 555 0100", "+86 10 1234 5678"},
	"RU": {"8 916 123-45-67", "8 (812) 123-45-67", "+86 138 0013 8000"},
}

// TestRoundTrip: every number the API accepts is found again by the
// per-call normaliser in every form a carrier writes it, and in every form
// the engine writes it towards a trunk (which a carrier may send back).
func TestRoundTrip(t *testing.T) {
	for region, inputs := range roundTripNumbers {
		c := country(t, region)
		for _, in := range inputs {
			e, err := c.Validate(in)
			if err != nil {
				t.Errorf("%s: Validate(%q): %v", region, in, err)
				continue
			}
			p := callingCode([]byte(e))
			nsn := e[len(p.cc):]
			home := p == c.plan
			forms := map[string]string{
				"+e164":                 "+" + e,
				"+e164 separators":      "+" + p.cc + " (" + nsn[:2] + ") " + nsn[2:5] + "-" + nsn[5:],
				"%2B":                   "%2B" + e,
				"%2b with params":       "%2b" + e + ";npdi;rn=%2B" + e,
				"tel global":            "tel:+" + p.cc + "-" + nsn,
				"tel global ext":        "tel:+" + e + ";ext=123",
				"tel local in context":  "tel:" + p.trunk + nsn + ";phone-context=+" + p.cc,
				"user part params":      "+" + e + ";npdi;rn=+" + e + ";cic=+1234",
				"international prefix":  c.InternationalPrefix() + e,
				"international spaced":  c.InternationalPrefix() + " " + p.cc + " " + nsn,
				"trunk +e164":           Format(e, PlusE164, c),
				"trunk national":        Format(e, National, c),
				"trunk national0":       Format(e, National0, c),
				"api form back from +":  "+" + e,
				"surrounding blanks":    "  +" + e + "\t",
				"separators everywhere": "+" + strings.Join(strings.Split(e, ""), "."),
			}
			if home {
				forms["national"] = nsn
				forms["national trunk prefix"] = c.TrunkPrefix() + nsn
				forms["national separators"] = nsn[:3] + " " + nsn[3:7] + "-" + nsn[7:]
				forms["e164 without +"] = e
				forms["trunk e164"] = Format(e, E164, c)
				forms["tel local home context"] = "tel:" + nsn + ";phone-context=+" + p.cc
			}
			for name, form := range forms {
				got, err := c.Normalize(form)
				if err != nil || got != e {
					t.Errorf("%s: %q is stored as %s; written %s as %q it reads %q, %v", region, in, e, name, form, got, err)
				}
				if v, err := c.Validate(form); err != nil || v != e {
					t.Errorf("%s: the API reads %s %q as %q, %v; want %s", region, name, form, v, err, e)
				}
			}
			if !home {
				// Bare digits are a national number of the default
				// country: a foreign number written so is never read as
				// some other foreign number.
				if got, err := c.Normalize(e); err == nil && callingCode([]byte(got)) != c.plan {
					t.Errorf("%s: bare foreign digits %s read as +%s, a number of another country", region, e, got)
				}
			}
		}
	}
}
