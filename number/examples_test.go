package number

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// nationalExceptions are the regions whose national form needs more than
// the trunk prefix to read (libphonenumber's national_prefix_for_parsing and
// transform rules): Argentina's mobile "15", Belarus's "8 0". Their E.164
// and international forms are still checked.
var nationalExceptions = map[string]bool{"AR": true, "BY": true}

// TestExampleNumbers runs libphonenumber's example number of every type in
// every region through both readers: the E.164 and international forms
// from China, and the national form in its own country, must all give the
// number libphonenumber means, and Validate must accept it.
func TestExampleNumbers(t *testing.T) {
	t.Parallel()
	cn := DefaultCountry()
	types := []phonenumbers.PhoneNumberType{
		phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE,
		phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER,
		phonenumbers.UAN, phonenumbers.VOICEMAIL,
	}
	n := 0
	for region := range phonenumbers.GetSupportedRegions() {
		c, err := LookupCountry(region)
		if err != nil {
			t.Errorf("LookupCountry(%s): %v", region, err)
			continue
		}
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			n++
			want := phonenumbers.Format(ex, phonenumbers.E164)[1:]
			forms := []struct {
				in string
				c  *Country
			}{
				{phonenumbers.Format(ex, phonenumbers.E164), cn},
				{phonenumbers.Format(ex, phonenumbers.INTERNATIONAL), cn},
				{phonenumbers.Format(ex, phonenumbers.RFC3966), cn},
				{phonenumbers.FormatOutOfCountryCallingNumber(ex, "CN"), cn},
				{phonenumbers.Format(ex, phonenumbers.NATIONAL), c},
			}
			if nationalExceptions[region] {
				forms = forms[:len(forms)-1]
			}
			for _, f := range forms {
				if got, err := f.c.Normalize(f.in); err != nil || got != want {
					t.Errorf("%s %v: Normalize(%q) in %s = %q, %v; want %s", region, typ, f.in, f.c, got, err, want)
				}
			}
			if _, err := cn.Validate("+" + want); err != nil {
				t.Errorf("%s %v: Validate(+%s): %v", region, typ, want, err)
			}
		}
	}
	if n < 1000 {
		t.Errorf("only %d example numbers", n)
	}
}
