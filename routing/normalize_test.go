package routing

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, cc, want string
	}{
		{"e164 plus", "+8617000000001", "86", "8617000000001"},
		{"00 prefix", "008617000000001", "86", "8617000000001"},
		{"canonical", "8617000000001", "86", "8617000000001"},
		{"national mobile", "17000000001", "86", "8617000000001"},
		{"trunk prefix fixed line", "01012345678", "86", "861012345678"},
		{"trunk prefix mobile", "017000000001", "86", "8617000000001"},
		{"tel global with separators", "tel:+86-170-0000-0001", "86", "8617000000001"},
		{"tel upper case scheme", "TEL:+8617000000001", "86", "8617000000001"},
		{"tel local with context", "tel:17000000001;phone-context=+86", "86", "8617000000001"},
		{"tel local context other country", "tel:07911123456;phone-context=+44", "86", "447911123456"},
		{"tel local context nanp", "tel:2125551234;phone-context=+1", "1", "12125551234"},
		{"tel local context with area", "tel:12345678;phone-context=+86-10", "86", "861012345678"},
		{"tel local context trunk zero", "tel:01012345678;phone-context=+86", "86", "861012345678"},
		{"tel context domain ignored", "tel:17000000001;phone-context=example.com", "86", "8617000000001"},
		{"tel context on global ignored", "tel:+8617000000001;phone-context=+1", "86", "8617000000001"},
		{"tel params ignored", "tel:+8617000000001;ext=12;isub=3", "86", "8617000000001"},
		{"context param case", "tel:17000000001;Phone-Context=+86", "86", "8617000000001"},
		{"percent plus", "%2B8617000000001", "86", "8617000000001"},
		{"percent lower", "%2b8617000000001", "86", "8617000000001"},
		{"percent in tel", "tel:%2B86-170-0000-0001", "86", "8617000000001"},
		{"visual separators", "+86 (170) 0000-0001", "86", "8617000000001"},
		{"dots", "170.0000.0001", "86", "8617000000001"},
		{"paren before plus", "(+86)17000000001", "86", "8617000000001"},
		{"surrounding space", "  +8617000000001\t", "86", "8617000000001"},
		{"user part params", "+8617000000001;npdi;rn=+8617000000099", "86", "8617000000001"},
		{"user part cic", "17000000001;cic=+1234", "86", "8617000000001"},
		{"foreign e164 kept", "+447911123456", "86", "447911123456"},
		{"foreign 00 kept", "00447911123456", "86", "447911123456"},
		{"foreign bare kept", "447911123456", "86", "447911123456"},
		{"short but valid", "+354123", "86", "354123"},
		{"fifteen digits", "+861234567890123", "86", "861234567890123"},
		{"nanp national", "(212) 555-1234", "1", "12125551234"},
		{"nanp canonical", "12125551234", "1", "12125551234"},
		{"nanp 011", "0118617000000001", "1", "8617000000001"},
		{"nanp 00", "008617000000001", "1", "8617000000001"},
		{"nanp chinese mobile ok", "+8617000000001", "1", "8617000000001"},
		{"uk trunk", "07911123456", "44", "447911123456"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in, tt.cc)
			if err != nil {
				t.Fatalf("Normalize(%q, %q): %v", tt.in, tt.cc, err)
			}
			if got != tt.want {
				t.Fatalf("Normalize(%q, %q) = %q, want %q", tt.in, tt.cc, got, tt.want)
			}
			again, err := Normalize(got, tt.cc)
			if err != nil || again != got {
				t.Fatalf("not idempotent: Normalize(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name, in, cc, why string
	}{
		{"empty", "", "86", "empty"},
		{"blank", "   ", "86", "empty"},
		{"tel only", "tel:", "86", "empty"},
		{"params only", ";npdi", "86", "empty"},
		{"anonymous", "anonymous", "86", "withheld"},
		{"Anonymous caps", "Anonymous", "86", "withheld"},
		{"anonymous.invalid", "anonymous.invalid", "86", "withheld"},
		{"restricted", "restricted", "86", "withheld"},
		{"letters", "1700000abc1", "86", "letter 'a'"},
		{"star", "*86#", "86", "service code"},
		{"hash", "17000000001#", "86", "service code"},
		{"too long", "+8617000000001234", "86", "too long"},
		{"way too long", strings.Repeat("1", 40), "86", "too long"},
		{"huge input", strings.Repeat(" ", 300) + "x" + strings.Repeat("1", 300), "86", "longer than"},
		{"too short", "+86123", "86", "too short"},
		{"short national", "12345", "86", "too short"},
		{"plus only", "+", "86", "no digits"},
		{"separators only", "-().", "86", "no digits"},
		{"plus inside", "86+17000000001", "86", "'+' not at the start"},
		{"double plus", "++8617000000001", "86", "'+' not at the start"},
		{"plus zero", "+0861700000000", "86", "cannot start with 0"},
		{"000 prefix", "0008617000000001", "86", "cannot start with 0"},
		{"bad escape", "%zz8617000000001", "86", "percent"},
		{"escaped letter", "%41", "86", "letter"},
		{"control char", "1700000\x000001", "86", "contains"},
		{"unicode digits", "１７０００００００００１", "86", "contains"},
		{"sip uri", "sip:+8617000000001@example.com", "86", "letter"},
		{"nanp looks like chinese mobile", "+17000000001", "86", "reads as a national number"},
		{"nanp 00 looks like chinese mobile", "0013105551234", "86", "reads as a national number"},
		{"nanp context looks like chinese mobile", "tel:2125551234;phone-context=+1", "86", "reads as a national number"},
		{"bad context", "tel:17000000001;phone-context=+", "86", "phone-context"},
		{"zero context", "tel:17000000001;phone-context=+0", "86", "phone-context"},
		{"bad country code", "17000000001", "0", "country code"},
		{"letter country code", "17000000001", "cn", "country code"},
		{"empty country code", "17000000001", "", "country code"},
		{"long country code", "17000000001", "8612", "country code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in, tt.cc)
			if err == nil {
				t.Fatalf("Normalize(%q, %q) = %q, want error", tt.in, tt.cc, got)
			}
			if !errors.Is(err, ErrInvalidNumber) {
				t.Fatalf("error %v does not wrap ErrInvalidNumber", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("error %q does not say %q", err, tt.why)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error is %d bytes long: %q", len(err.Error()), err)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"+8617000000001", "008617000000001", "17000000001", "01012345678",
		"tel:+86-170-0000-0001", "tel:17000000001;phone-context=+86", "%2B8617000000001",
		"+8617000000001;npdi;rn=+8617000000099", "anonymous", "*86#", "+17000000001",
		"tel:12345678;phone-context=+86-10", "0118617000000001", "(212) 555-1234",
	} {
		f.Add(s, "86")
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, s, cc string) {
		out, err := Normalize(s, cc)
		if err != nil {
			if out != "" {
				t.Fatalf("error with output %q", out)
			}
			return
		}
		if len(out) < minDigits || len(out) > maxDigits {
			t.Fatalf("Normalize(%q, %q) = %q: %d digits", s, cc, out, len(out))
		}
		for i := 0; i < len(out); i++ {
			if out[i] < '0' || out[i] > '9' {
				t.Fatalf("Normalize(%q, %q) = %q: not digits", s, cc, out)
			}
		}
		again, err := Normalize(out, cc)
		if err != nil || again != out {
			t.Fatalf("Normalize(%q, %q) = %q, but Normalize(%q) = %q, %v", s, cc, out, out, again, err)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	for _, in := range []string{
		"8617000000001",
		"+8617000000001",
		"17000000001",
		"tel:+86-170-0000-0001",
		"tel:17000000001;phone-context=+86",
		"%2B8617000000001;npdi;rn=+8617000000099",
		"anonymous",
	} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Normalize(in, "86")
			}
		})
	}
}
