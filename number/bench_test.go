package number

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// Measured on the shared 2-core development machine (go test -bench . in
// number/, load average ~3; figures vary by 2x with the load):
//
//	Normalize      100-700 ns/op   1-2 allocs (16-64 B), 4 for a withheld caller
//	Phonenumbers   13-23 us/op     26-39 allocs (1.3-1.8 KB); it cannot read
//	               "%2B...;npdi;rn=..." at all (fails in 3 us)
//	Validate       20-33 us/op     55-79 allocs (5-6 KB)
//
// libphonenumber's parse is 50-100 times the hand scanner, and an INVITE
// reads two numbers (caller and dialled), so the per-call path stays on
// Normalize; the API, which writes a binding now and then, affords Validate.

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
