package number

import (
	"errors"
	"testing"
)

func TestFormat(t *testing.T) {
	const (
		mobile = "8613800138000" // +86 138 0013 8000
		fixed  = "861012345678"  // +86 10 1234 5678, Beijing
		uk     = "447911123456"
		nanp   = "12125550100"
		rome   = "390612345678"
	)
	tests := []struct {
		region string
		style  Style
		in     string
		want   string
	}{
		{"CN", PlusE164, mobile, "+8613800138000"},
		{"CN", E164, mobile, "8613800138000"},
		{"CN", National, mobile, "13800138000"},
		{"CN", National0, mobile, "013800138000"},
		{"CN", National, fixed, "1012345678"},
		{"CN", National0, fixed, "01012345678"},
		// Another country's number stays international in the national
		// styles: China's international prefix and the full number.
		{"CN", PlusE164, uk, "+447911123456"},
		{"CN", E164, uk, "447911123456"},
		{"CN", National, uk, "00447911123456"},
		{"CN", National0, uk, "00447911123456"},
		{"US", National, nanp, "2125550100"},
		{"US", National0, nanp, "12125550100"},
		{"US", National, mobile, "0118613800138000"},
		{"GB", National0, uk, "07911123456"},
		{"GB", National, uk, "7911123456"},
		{"IT", National, rome, "0612345678"},
		{"IT", National0, rome, "0612345678"}, // Italy has no trunk prefix
		{"RU", National0, "79161234567", "89161234567"},
		{"RU", National, mobile, "8108613800138000"},
		// Brazil dials abroad only with a carrier code: + it is.
		{"BR", National, mobile, "+8613800138000"},
	}
	for _, tt := range tests {
		c := country(t, tt.region)
		if got := Format(tt.in, tt.style, c); got != tt.want {
			t.Errorf("Format(%s, %s, %s) = %q, want %q", tt.in, tt.style, c, got, tt.want)
		}
	}
	if got := Format(mobile, National, nil); got != "13800138000" {
		t.Errorf("Format with nil country = %q, want the default country's national number", got)
	}
}

func TestTrunk(t *testing.T) {
	cn := DefaultCountry()
	tests := []struct {
		name          string
		trunk         Trunk
		callee, shown string
	}{
		{"default", DefaultTrunk(), "+8613900000002", "+8617000000001"},
		{"e164", Trunk{Style: E164}, "8613900000002", "8617000000001"},
		{"national", Trunk{Style: National, Country: cn}, "13900000002", "17000000001"},
		{"national0", Trunk{Style: National0}, "013900000002", "017000000001"},
		{"tech prefix national0", Trunk{Style: National0, Prefix: "10193"}, "10193013900000002", "017000000001"},
		{"tech prefix e164", Trunk{Style: E164, Prefix: "999"}, "9998613900000002", "8617000000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.trunk.Check(); err != nil {
				t.Fatal(err)
			}
			if got := tt.trunk.Callee("8613900000002"); got != tt.callee {
				t.Errorf("Callee = %q, want %q", got, tt.callee)
			}
			if got := tt.trunk.Shown("8617000000001"); got != tt.shown {
				t.Errorf("Shown = %q, want %q", got, tt.shown)
			}
		})
	}
	if !DefaultTrunk().UserPhone || !DefaultUserPhone(PlusE164) || DefaultUserPhone(E164) || DefaultUserPhone(National) || DefaultUserPhone(National0) {
		t.Error("user=phone defaults: want on for +e164 only")
	}
}

func TestTrunkCheck(t *testing.T) {
	for _, tt := range []struct {
		trunk Trunk
		want  error
	}{
		{Trunk{Style: PlusE164, Prefix: "10193"}, ErrPrefixPlus},
		{Trunk{Style: E164, Prefix: "10a93"}, ErrPrefixDigits},
		{Trunk{Style: E164, Prefix: "+10193"}, ErrPrefixDigits},
		{Trunk{Style: National, Prefix: "12345678901234567"}, ErrPrefixDigits},
	} {
		if err := tt.trunk.Check(); !errors.Is(err, tt.want) {
			t.Errorf("%+v: Check() = %v, want %v", tt.trunk, err, tt.want)
		}
	}
	if err := (Trunk{Style: Style(9)}).Check(); err == nil {
		t.Error("unknown style accepted")
	}
}

func TestParseStyle(t *testing.T) {
	for _, s := range []Style{PlusE164, E164, National, National0} {
		got, err := ParseStyle(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStyle(%q) = %v, %v", s.String(), got, err)
		}
	}
	for _, bad := range []string{"", "E164", "+E164", "international", "national00"} {
		if _, err := ParseStyle(bad); err == nil {
			t.Errorf("ParseStyle(%q) accepted", bad)
		}
	}
	if Style(7).String() != "style(7)" {
		t.Error(Style(7).String())
	}
}
