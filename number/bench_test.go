package number

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// benchInputs are the forms carriers send on INVITEs.
var benchInputs = []string{
	"+8617000000001",
	"8617000000001",
	"17000000001",
	"01012345678",
	"tel:+86-170-0000-0001",
	"tel:17000000001;phone-context=+86",
	"%2B8617000000001;npdi;rn=+8617000000099",
	"+12125550100",
	"anonymous",
}

// BenchmarkNormalize is the per-call normaliser (every INVITE runs it for
// the caller and the dialled number).
func BenchmarkNormalize(b *testing.B) {
	cn := DefaultCountry()
	for _, in := range benchInputs {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = cn.Normalize(in)
			}
		})
	}
}

// BenchmarkPhonenumbers is what the per-call path would cost if it parsed
// with libphonenumber instead (parse and E.164 format, no validation).
func BenchmarkPhonenumbers(b *testing.B) {
	for _, in := range benchInputs {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			var pn phonenumbers.PhoneNumber
			for b.Loop() {
				if phonenumbers.ParseToNumber(in, "CN", &pn) == nil {
					_ = phonenumbers.Format(&pn, phonenumbers.E164)
				}
			}
		})
	}
}

// BenchmarkValidate is the API's check: Normalize, then libphonenumber's
// parse and validity test.
func BenchmarkValidate(b *testing.B) {
	cn := DefaultCountry()
	for _, in := range benchInputs {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = cn.Validate(in)
			}
		})
	}
}

func BenchmarkFormat(b *testing.B) {
	for _, st := range []Style{PlusE164, E164, National, National0} {
		tr := Trunk{Style: st}
		b.Run(st.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tr.Callee("8613800000001")
			}
		})
	}
}
