package store

import (
	"fmt"
	"math"
	"time"
)

// Limits on what the store accepts. Numbers arrive canonical (digits only,
// see number.Country.Normalize); the store still refuses anything else because a
// separator byte inside a number would corrupt the composite index keys.
const (
	minPoolNumber = 6
	maxPoolNumber = 15
	minParty      = 3
	maxParty      = 15
	maxPoolName   = 64
	maxOrderID    = 256
	maxIDLen      = 64
	defaultLimit  = 1000
)

// maxExpiry is the last instant a record can hold (int64 unix nanos).
var maxExpiry = time.Unix(0, math.MaxInt64)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("store: %s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkNumber(field, s string, minLen, maxLen int) error {
	switch {
	case s == "":
		return fieldf(field, "required")
	case !isDigits(s):
		return fieldf(field, "%q is not a digit string", s)
	case len(s) < minLen || len(s) > maxLen:
		return fieldf(field, "%q must have %d to %d digits", s, minLen, maxLen)
	}
	return nil
}

// checkPoolName allows letters, digits, '.', '_' and '-': pool names end up in
// URL paths and log lines, and the key separator (0x00) must never occur in
// them.
func checkPoolName(name string) error {
	if name == "" {
		return invalidf("pool is required")
	}
	if len(name) > maxPoolName {
		return invalidf("pool name longer than %d bytes", maxPoolName)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return invalidf("pool name %q may hold only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

func checkNewBinding(nb NewBinding, now time.Time) error {
	if err := checkPoolName(nb.Pool); err != nil {
		return err
	}
	if err := checkNumber("a", nb.A, minParty, maxParty); err != nil {
		return err
	}
	if err := checkModel(nb); err != nil {
		return err
	}
	if err := checkTrackNos(nb.TrackNos); err != nil {
		return err
	}
	if nb.X != "" {
		if err := checkNumber("x", nb.X, minPoolNumber, maxPoolNumber); err != nil {
			return err
		}
		if nb.X == nb.A || nb.X == nb.B {
			return invalidf("x %q is also a party", nb.X)
		}
	}
	if len(nb.OrderID) > maxOrderID {
		return invalidf("order id longer than %d bytes", maxOrderID)
	}
	return checkExpiry(nb.ExpiresAt, now)
}

func checkExpiry(t, now time.Time) error {
	switch {
	case t.IsZero():
		return invalidf("expires_at is required")
	case !t.After(now):
		return invalidf("expires_at %s is not in the future", t.UTC().Format(time.RFC3339Nano))
	case !t.Before(maxExpiry):
		return invalidf("expires_at %s is too far in the future", t.UTC().Format(time.RFC3339))
	}
	return nil
}
