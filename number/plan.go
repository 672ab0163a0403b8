package number

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// plan is what the per-call normaliser knows of one country calling code:
// the lengths its national significant numbers (NSN) can have, its trunk
// prefix and, compiled only when an ambiguous number needs it, the pattern
// of its NSNs. It is read off libphonenumber's metadata once, so the
// normaliser and the API's validation agree on every country's plan without
// a table of our own to keep up to date.
type plan struct {
	cc       string // "86"
	trunk    string // national (trunk) prefix of the code's main region: "0", NANP "1", "" for none
	lens     uint32 // bit n set: an NSN of n digits is possible
	min, max int    // shortest and longest possible NSN

	pattern string // the regions' NSN patterns, anchored; compiled by nsn
	once    sync.Once
	re      *regexp.Regexp
}

// possible reports whether an NSN of n digits is one this code uses.
func (p *plan) possible(n int) bool { return n > 0 && n < 32 && p.lens&(1<<n) != 0 }

// nsn reports whether d matches the NSN pattern of the code. It is the one
// regular expression of the normaliser, asked only when the lengths alone
// cannot tell how to read a number (a digit string that could be national
// with or without a prefix).
func (p *plan) nsn(d []byte) bool {
	p.once.Do(func() { p.re = regexp.MustCompile(p.pattern) })
	// A copy: the regexp would make d, the caller's stack buffer, escape.
	return p.re.MatchString(string(d))
}

// plans is the country calling code table, indexed by the code's value.
// The codes form a prefix code (no code is the beginning of another), which
// is what lets callingCode read a number's code from its first 1-3 digits
// without guessing.
var plans = sync.OnceValue(func() *[1000]*plan {
	var t [1000]*plan
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		panic("number: libphonenumber metadata: " + err.Error())
	}
	patterns := map[int][]string{}
	for _, md := range coll.GetMetadata() {
		cc := int(md.GetCountryCode())
		if cc < 1 || cc > 999 {
			continue
		}
		p := t[cc]
		if p == nil {
			p = &plan{cc: strconv.Itoa(cc)}
			t[cc] = p
		}
		gd := md.GetGeneralDesc()
		for _, n := range gd.GetPossibleLength() {
			if n > 0 && n < 32 {
				p.lens |= 1 << n
			}
		}
		if pat := gd.GetNationalNumberPattern(); pat != "" {
			patterns[cc] = append(patterns[cc], pat)
		}
		// A code shared by several regions (NANP's 1, 7, 44) takes the trunk
		// prefix of its main region.
		if md.GetId() == phonenumbers.GetRegionCodeForCountryCode(cc) {
			p.trunk = strings.ReplaceAll(md.GetNationalPrefix(), "~", "")
		}
	}
	for cc, p := range t {
		if p == nil {
			continue
		}
		if p.lens == 0 { // no lengths in the data: allow what E.164 allows
			for n := 2; n <= maxDigits-len(p.cc); n++ {
				p.lens |= 1 << n
			}
		}
		for n := 1; n < 32; n++ {
			if p.possible(n) {
				if p.min == 0 {
					p.min = n
				}
				p.max = n
			}
		}
		p.pattern = "^(?:" + strings.Join(patterns[cc], "|") + ")$"
		if len(patterns[cc]) == 0 {
			p.pattern = "^\\d+$"
		}
	}
	return &t
})

// callingCode returns the plan of the country calling code d starts with,
// or nil when its first digits are no assigned code.
func callingCode(d []byte) *plan {
	t := plans()
	v := 0
	for i := 0; i < 3 && i < len(d); i++ {
		v = v*10 + int(d[i]-'0')
		if i == 0 && v == 0 {
			return nil
		}
		if p := t[v]; p != nil {
			return p
		}
	}
	return nil
}

// planOf returns the plan of a country calling code written as digits.
func planOf(cc string) *plan {
	p := callingCode([]byte(cc))
	if p == nil || p.cc != cc {
		return nil
	}
	return p
}
