package number

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// DefaultRegion is the default country when none is configured: China, the
// product's home market.
const DefaultRegion = "CN"

// Country is the default country: the one a number written without a
// country calling code belongs to, with the prefixes its subscribers dial
// (trunk prefix for national calls, international prefix for calls abroad).
// A Country is immutable and shared; LookupCountry returns the same pointer
// for the same region.
type Country struct {
	region string
	plan   *plan
	idd    []string       // literal international prefixes, longest first
	iddRe  *regexp.Regexp // the metadata's other international prefixes, nil if none
	iddLit string         // what every match of iddRe starts with
	out    string         // the international prefix a trunk of this country dials; "" for none
}

var countries sync.Map // region -> *Country

// LookupCountry returns the country named by an ISO 3166 region code ("CN",
// "gb") or by a country calling code ("86", "+44"; a code shared by several
// regions stands for its main one: "1" is the US, "7" Russia). Non-
// geographic codes (800, 882, ...) are no country.
func LookupCountry(s string) (*Country, error) {
	s = strings.TrimSpace(s)
	region := strings.ToUpper(s)
	if cc := strings.TrimPrefix(s, "+"); cc != "" && strings.Trim(cc, "0123456789") == "" {
		p := planOf(cc)
		if p == nil {
			return nil, fmt.Errorf("%q is not an assigned country calling code", s)
		}
		region = phonenumbers.GetRegionCodeForCountryCode(atoi(p.cc))
	}
	if c, ok := countries.Load(region); ok {
		return c.(*Country), nil
	}
	if !phonenumbers.GetSupportedRegions()[region] {
		return nil, fmt.Errorf("%q is neither a region code (CN, GB, US) nor a country calling code of a country (86, 44, 1)", s)
	}
	c, err := newCountry(region)
	if err != nil {
		return nil, err
	}
	actual, _ := countries.LoadOrStore(region, c)
	return actual.(*Country), nil
}

// DefaultCountry is the country of DefaultRegion.
func DefaultCountry() *Country {
	c, err := LookupCountry(DefaultRegion)
	if err != nil {
		panic("number: " + err.Error())
	}
	return c
}

func newCountry(region string) (*Country, error) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, fmt.Errorf("libphonenumber metadata: %w", err)
	}
	for _, md := range coll.GetMetadata() {
		if md.GetId() != region {
			continue
		}
		p := planOf(fmt.Sprint(md.GetCountryCode()))
		if p == nil {
			return nil, fmt.Errorf("region %s has no calling code", region)
		}
		c := &Country{region: region, plan: p}
		var patterns []string
		for _, alt := range alternatives(md.GetInternationalPrefix()) {
			if isDigitString(alt) {
				c.idd = append(c.idd, alt)
			} else if alt != "" {
				patterns = append(patterns, alt)
			}
		}
		preferred := strings.ReplaceAll(md.GetPreferredInternationalPrefix(), "~", "")
		switch {
		case isDigitString(preferred):
			c.out = preferred
			if !contains(c.idd, preferred) {
				c.idd = append(c.idd, preferred)
			}
		case len(c.idd) > 0:
			c.out = c.idd[0]
		}
		sort.SliceStable(c.idd, func(i, j int) bool { return len(c.idd[i]) > len(c.idd[j]) })
		if len(patterns) > 0 {
			alt := "(?:" + strings.Join(patterns, "|") + ")"
			c.iddRe = regexp.MustCompile("^" + alt)
			// LiteralPrefix says nothing for an anchored expression.
			c.iddLit, _ = regexp.MustCompile(alt).LiteralPrefix()
		}
		return c, nil
	}
	return nil, fmt.Errorf("no metadata for region %s", region)
}

// Region is the ISO 3166 code, e.g. "CN".
func (c *Country) Region() string { return c.region }

// CallingCode is the country calling code, e.g. "86".
func (c *Country) CallingCode() string { return c.plan.cc }

// TrunkPrefix is the national (trunk) prefix, e.g. "0"; "" where national
// numbers are dialled without one. It is libphonenumber's national prefix;
// the rarer rules for reading national numbers (carrier selection codes in
// front of them, Argentina's mobile "15", Belarus's "8 0") are not applied.
func (c *Country) TrunkPrefix() string { return c.plan.trunk }

// InternationalPrefix is what a subscriber of the country dials before a
// foreign number, e.g. "00", NANP "011"; "" where no single prefix works
// without a carrier code (Brazil, Colombia), so numbers abroad must be
// written with '+'.
func (c *Country) InternationalPrefix() string { return c.out }

func (c *Country) String() string { return c.region + " (+" + c.plan.cc + ")" }

// internationalPrefix returns how many leading digits of d are an
// international prefix of the country, or 0. As libphonenumber does, a
// prefix followed by 0 is not one (no country calling code starts with 0).
func (c *Country) internationalPrefix(d []byte) int {
	n := 0
	for _, p := range c.idd {
		if hasPrefix(d, p) {
			n = len(p)
			break
		}
	}
	if n == 0 && c.iddRe != nil && (c.iddLit == "" || hasPrefix(d, c.iddLit)) {
		// A copy: the regexp would make d, the caller's stack buffer, escape.
		if loc := c.iddRe.FindStringIndex(string(d)); loc != nil {
			n = loc[1]
		}
	}
	if n == 0 || n >= len(d) || d[n] == '0' {
		return 0
	}
	return n
}

// alternatives splits a regular expression at its top-level '|'.
func alternatives(re string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(re); i++ {
		switch re[i] {
		case '\\':
			i++
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case '|':
			if depth == 0 {
				out = append(out, re[start:i])
				start = i + 1
			}
		}
	}
	return append(out, re[start:])
}

func isDigitString(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func atoi(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}
