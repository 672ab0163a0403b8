package number

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	cn := DefaultCountry()
	for _, tt := range []struct{ in, want string }{
		{"+1 212 555 0100", "12125550100"},
		{"2125550100", "862125550100"}, // Shanghai, never Morocco
		{"138-0013-8000", "8613800138000"},
		{"8613800138000", "8613800138000"},
		{"+44 (0)20 7946 0018", "442079460018"},
		{"00447911123456", "447911123456"},
	} {
		got, err := cn.Validate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Validate(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ in, why string }{
		{"447911123456", "write numbers of other countries with +"}, // a UK number without +: not a Chinese one
		{"12125550100", "not a valid number"},                       // NANP digits without +: no Chinese range
		{"+17005550100", "not a valid number"},                      // 700 is no NANP area code
		{"12000000000", "not a valid number"},                       // shaped like a Chinese mobile, no such range
		{"+86 999 1234 5678", "not a valid number"},
		{"anonymous", "withheld"}, // Normalize's own errors come through
	} {
		got, err := cn.Validate(tt.in)
		if err == nil {
			t.Errorf("Validate(%q) = %q, want error", tt.in, got)
			continue
		}
		var ne *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &ne) || !strings.Contains(ne.Reason, tt.why) {
			t.Errorf("Validate(%q): %v, want a reason saying %q", tt.in, err, tt.why)
		}
	}
}
