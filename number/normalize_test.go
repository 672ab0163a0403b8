package number

import (
	"errors"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func country(t testing.TB, region string) *Country {
	t.Helper()
	c, err := LookupCountry(region)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, region, want string
	}{
		{"e164 plus", "+8617000000001", "CN", "8617000000001"},
		{"00 prefix", "008617000000001", "CN", "8617000000001"},
		{"home e164 without plus", "8617000000001", "CN", "8617000000001"},
		{"home fixed line e164 without plus", "861012345678", "CN", "861012345678"},
		{"national mobile", "17000000001", "CN", "8617000000001"},
		{"national fixed line without trunk prefix", "1012345678", "CN", "861012345678"},
		{"trunk prefix fixed line", "01012345678", "CN", "861012345678"},
		{"trunk prefix mobile", "017000000001", "CN", "8617000000001"},
		{"tel global with separators", "tel:+86-170-0000-0001", "CN", "8617000000001"},
		{"tel upper case scheme", "TEL:+8617000000001", "CN", "8617000000001"},
		{"tel local with context", "tel:17000000001;phone-context=+86", "CN", "8617000000001"},
		{"tel local trunk zero in context", "tel:01012345678;phone-context=+86", "CN", "861012345678"},
		{"tel local context other country", "tel:07911123456;phone-context=+44", "CN", "447911123456"},
		{"tel local context nanp", "tel:2125551234;phone-context=+1", "CN", "12125551234"},
		{"tel local context with area", "tel:12345678;phone-context=+86-10", "CN", "861012345678"},
		{"tel context domain ignored", "tel:17000000001;phone-context=example.com", "CN", "8617000000001"},
		{"tel context on global ignored", "tel:+8617000000001;phone-context=+1", "CN", "8617000000001"},
		{"tel params ignored", "tel:+8617000000001;ext=12;isub=3", "CN", "8617000000001"},
		{"context param case", "tel:17000000001;Phone-Context=+86", "CN", "8617000000001"},
		{"percent plus", "%2B8617000000001", "CN", "8617000000001"},
		{"percent lower", "%2b8617000000001", "CN", "8617000000001"},
		{"percent in tel", "tel:%2B86-170-0000-0001", "CN", "8617000000001"},
		{"visual separators", "+86 (170) 0000-0001", "CN", "8617000000001"},
		{"dots", "170.0000.0001", "CN", "8617000000001"},
		{"paren before plus", "(+86)17000000001", "CN", "8617000000001"},
		{"surrounding space", "  +8617000000001\t", "CN", "8617000000001"},
		{"user part params", "+8617000000001;npdi;rn=+8617000000099", "CN", "8617000000001"},
		{"user part cic", "17000000001;cic=+1234", "CN", "8617000000001"},
		// Every valid E.164 number, whatever its digits look like at home.
		{"nanp plus spaced", "+1 212 555 0100", "CN", "12125550100"},
		{"nanp shaped like a chinese mobile", "+17005550100", "CN", "17005550100"},
		{"nanp 00", "0013105551234", "CN", "13105551234"},
		{"foreign e164", "+447911123456", "CN", "447911123456"},
		{"foreign 00", "00447911123456", "CN", "447911123456"},
		{"foreign trunk zero after code", "+44 (0)20 7946 0000", "CN", "442079460000"},
		{"three digit code", "+354 611 1234", "CN", "3546111234"},
		{"non-geographic code", "+800 1234 5678", "CN", "80012345678"},
		{"fifteen digits", "+491234567890123", "CN", "491234567890123"},
		{"carrier selection before 00", "1795100447911123456", "CN", "447911123456"},
		// A national number stays in the default country.
		{"bare digits are national, not +212", "2125550100", "CN", "862125550100"},
		{"bare foreign-looking digits are national", "447911123456", "CN", "86447911123456"},
		// Other default countries.
		{"nanp national", "(212) 555-1234", "US", "12125551234"},
		{"nanp with trunk 1", "1 212 555 1234", "US", "12125551234"},
		{"nanp 011", "0118617000000001", "US", "8617000000001"},
		{"nanp by calling code", "2125551234", "1", "12125551234"},
		{"uk trunk", "07911123456", "GB", "447911123456"},
		{"uk e164 without plus", "447911123456", "GB", "447911123456"},
		{"italy keeps its leading zero", "06 1234 5678", "IT", "390612345678"},
		{"russia trunk 8", "8 916 123-45-67", "RU", "79161234567"},
		{"russia 810", "810 86 170 0000 0001", "RU", "8617000000001"},
		{"russia toll free 8 800 keeps its 8", "8 800 123-45-67", "RU", "78001234567"},
		{"australia 0011", "0011 86 170 0000 0001", "AU", "8617000000001"},
		{"australia 0014 carrier", "0014 86 170 0000 0001", "AU", "8617000000001"},
		{"japan 010", "010 86 170 0000 0001", "JP", "8617000000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := country(t, tt.region)
			got, err := c.Normalize(tt.in)
			if err != nil {
				t.Fatalf("Normalize(%q) in %s: %v", tt.in, c, err)
			}
			if got != tt.want {
				t.Fatalf("Normalize(%q) in %s = %q, want %q", tt.in, c, got, tt.want)
			}
			again, err := c.Normalize("+" + got)
			if err != nil || again != got {
				t.Fatalf("not a fixed point: Normalize(+%s) = %q, %v", got, again, err)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name, in, why string
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"tel only", "tel:", "empty"},
		{"params only", ";npdi", "empty"},
		{"anonymous", "anonymous", "withheld"},
		{"Anonymous caps", "Anonymous", "withheld"},
		{"anonymous.invalid", "anonymous.invalid", "withheld"},
		{"restricted", "restricted", "withheld"},
		{"letters", "1700000abc1", "letter 'a'"},
		{"star", "*86#", "service code"},
		{"hash", "17000000001#", "service code"},
		{"too long", "+8617000000001234", "too long"},
		{"too long for e164", "+4912345678901234", "too long"},
		{"way too long", strings.Repeat("1", 40), "too long"},
		{"huge input", strings.Repeat(" ", 300) + "x" + strings.Repeat("1", 300), "longer than"},
		{"too short", "+86123", "too short"},
		{"short national", "12345", "too short"},
		{"long national", "1234567890123", "too long"},
		{"plus only", "+", "no digits"},
		{"separators only", "-().", "no digits"},
		{"plus inside", "86+17000000001", "'+' not at the start"},
		{"double plus", "++8617000000001", "'+' not at the start"},
		{"plus zero", "+0861700000000", "cannot start with 0"},
		{"000 prefix", "0008617000000001", "too long"},
		{"unassigned code", "+2891234567", "+289 is no assigned country calling code"},
		{"bad escape", "%zz8617000000001", "percent"},
		{"escaped letter", "%41", "letter"},
		{"control char", "1700000\x000001", "contains"},
		{"unicode digits", "１７０００００００００１", "contains"},
		{"sip uri", "sip:+8617000000001@example.com", "letter"},
		{"bad context", "tel:17000000001;phone-context=+", "phone-context"},
		{"zero context", "tel:17000000001;phone-context=+0", "phone-context"},
		{"unassigned context", "tel:1234567;phone-context=+289", "phone-context"},
	}
	cn := DefaultCountry()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cn.Normalize(tt.in)
			if err == nil {
				t.Fatalf("Normalize(%q) = %q, want error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			var ne *Error
			if !errors.As(err, &ne) || !strings.Contains(ne.Reason, tt.why) {
				t.Fatalf("error %q does not say %q", err, tt.why)
			}
			if len(err.Error()) > 250 {
				t.Fatalf("error is %d bytes long: %q", len(err.Error()), err)
			}
		})
	}
}

func TestLookupCountry(t *testing.T) {
	for _, tt := range []struct{ in, region, cc string }{
		{"CN", "CN", "86"}, {"cn", "CN", "86"}, {" GB ", "GB", "44"}, {"86", "CN", "86"}, {"+44", "GB", "44"},
		{"1", "US", "1"}, {"7", "RU", "7"}, {"CA", "CA", "1"},
	} {
		c, err := LookupCountry(tt.in)
		if err != nil || c.Region() != tt.region || c.CallingCode() != tt.cc {
			t.Errorf("LookupCountry(%q) = %v, %v; want %s +%s", tt.in, c, err, tt.region, tt.cc)
		}
	}
	if a, b := country(t, "CN"), country(t, "86"); a != b {
		t.Error("two lookups of one country give two values")
	}
	for _, in := range []string{"", "XX", "ZZ", "001", "800", "0", "86x", "+", "8612", "China"} {
		if c, err := LookupCountry(in); err == nil {
			t.Errorf("LookupCountry(%q) = %v, want error", in, c)
		}
	}
	cn := DefaultCountry()
	if cn.Region() != "CN" || cn.TrunkPrefix() != "0" || cn.InternationalPrefix() != "00" || cn.String() != "CN (+86)" {
		t.Errorf("default country %v trunk %q international %q", cn, cn.TrunkPrefix(), cn.InternationalPrefix())
	}
}

// The calling code table is what decides where a country code ends: it
// must hold every code libphonenumber knows, and be a prefix code.
func TestCallingCodeTable(t *testing.T) {
	t.Parallel()
	codes := phonenumbers.GetSupportedCallingCodes()
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		codes[cc] = true
	}
	n := 0
	for cc, p := range plans() {
		if p == nil {
			continue
		}
		n++
		if !codes[cc] {
			t.Errorf("+%d in the table but not in libphonenumber", cc)
		}
		for l := 1; l < len(p.cc); l++ {
			if planOf(p.cc[:l]) != nil {
				t.Errorf("+%s starts with the code +%s", p.cc, p.cc[:l])
			}
		}
		if p.min < 1 || p.max < p.min || len(p.cc)+p.min > maxDigits {
			t.Errorf("+%s: NSN lengths %d-%d", p.cc, p.min, p.max)
		}
	}
	if n != len(codes) {
		t.Errorf("table has %d codes, libphonenumber %d", n, len(codes))
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"+8617000000001", "008617000000001", "17000000001", "01012345678", "8617000000001",
		"tel:+86-170-0000-0001", "tel:17000000001;phone-context=+86", "%2B8617000000001",
		"+8617000000001;npdi;rn=+8617000000099", "anonymous", "*86#", "+17000000001",
		"tel:12345678;phone-context=+86-10", "0118617000000001", "(212) 555-1234",
		"+44 (0)20 7946 0000", "tel:07911123456;phone-context=+44", "1795100447911123456",
	} {
		f.Add(s, "CN")
		f.Add(s, "US")
		f.Add(s, "RU")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		c, err := LookupCountry(region)
		if err != nil {
			return
		}
		out, err := c.Normalize(s)
		if err != nil {
			if out != "" {
				t.Fatalf("error with output %q", out)
			}
			return
		}
		if len(out) < 3 || len(out) > maxDigits || !isDigitString(out) {
			t.Fatalf("Normalize(%q) in %s = %q", s, c, out)
		}
		if callingCode([]byte(out)) == nil {
			t.Fatalf("Normalize(%q) in %s = %q: no country calling code", s, c, out)
		}
		again, err := c.Normalize("+" + out)
		if err != nil || again != out {
			t.Fatalf("Normalize(%q) in %s = %q, but Normalize(+%s) = %q, %v", s, c, out, out, again, err)
		}
		// Wherever libphonenumber calls the input a valid number, it reads
		// the same number.
		if pn, err := phonenumbers.Parse(s, c.Region()); err == nil && phonenumbers.IsValidNumber(pn) && !strings.Contains(s, "%") {
			if want := phonenumbers.Format(pn, phonenumbers.E164); want != "+"+out {
				t.Fatalf("Normalize(%q) in %s = %q, libphonenumber %s", s, c, out, want)
			}
		}
	})
}
