package store

import (
	"bytes"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"time"
)

// How the models share an X (the reuse rule across models):
//   - every party a binding keys on X (AXB: A and B; AXN: A and, if set, B;
//     AXE: A) is a key x sep party in x_party, so a number is a party of at
//     most one live binding per X whatever the models, and (X, caller) has
//     one answer;
//   - an AXN holds X's "any caller" slot (x_any); AXE extensions (x_ext)
//     need the same slot, shared among themselves: an X carries one AXN or
//     any number of AXE, never both. AXB pairs fit beside either;
//   - a released extension is quarantined like a released pair, so a
//     courier keying an old parcel's extension never reaches a new buyer,
//     and an AXN cannot take an X while extensions of it are quarantined.

// modelOf is nb's model, AXB when unset.
func modelOf(nb NewBinding) Model {
	if nb.Model == "" {
		return ModelAXB
	}
	return nb.Model
}

// misfit says why an X cannot take a new binding.
type misfit int

const (
	fitOK        misfit = iota
	fitParty            // a party is live or quarantined on X, or is X
	fitSlot             // the any-caller slot is taken (AXN vs AXN or AXE)
	fitExtension        // the requested extension is live or quarantined
)

// fits reports whether x can take nb at now under the reuse rule; the
// allocator calls it for every candidate.
func (bk buckets) fits(x []byte, nb NewBinding, now time.Time) bool {
	return bk.misfit(x, nb, now) == fitOK
}

func (bk buckets) misfit(x []byte, nb NewBinding, now time.Time) misfit {
	var scratch [maxPoolNumber + 1 + maxParty]byte
	for _, p := range [2]string{nb.A, nb.B} {
		if p == "" {
			continue
		}
		if string(x) == p {
			return fitParty
		}
		k := pairKey(scratch[:0], string(x), p)
		if bk.xParty.Get(k) != nil || bk.quarantined(k, now) {
			return fitParty
		}
	}
	switch modelOf(nb) {
	case ModelAXN:
		if bk.xAny.Get(x) != nil || bk.hasExtensions(x, now) {
			return fitSlot
		}
	case ModelAXE:
		if bk.xAny.Get(x) != nil {
			return fitSlot
		}
		if nb.Extension != "" && bk.extensionUsed(string(x), nb.Extension, now) {
			return fitExtension
		}
	}
	return fitOK
}

// misfitError is the error CreateBinding gives for an explicit X that does
// not fit.
func misfitError(m misfit, nb NewBinding) error {
	switch m {
	case fitParty:
		return fmt.Errorf("store: a or b on x %s: %w", nb.X, ErrPartyBusy)
	case fitSlot:
		return fmt.Errorf("store: %s on x %s: an AXN and AXE extensions cannot share a number, nor two AXN: %w", modelOf(nb), nb.X, ErrSlotTaken)
	case fitExtension:
		return fmt.Errorf("store: extension %s on x %s: %w", nb.Extension, nb.X, ErrExtensionTaken)
	}
	return nil
}

// extKey is x sep extension (x_ext); extQuarantineKey is x sep sep
// extension (quarantine).
func extKey(dst []byte, x, ext string) []byte { return pairKey(dst, x, ext) }

func extQuarantineKey(dst []byte, x, ext string) []byte {
	dst = append(dst, x...)
	dst = append(dst, sep, sep)
	return append(dst, ext...)
}

// extensionUsed reports whether (x, ext) is live or quarantined at now.
func (bk buckets) extensionUsed(x, ext string, now time.Time) bool {
	var scratch [maxPoolNumber + 2 + maxExtension]byte
	if bk.xExt.Get(extKey(scratch[:0], x, ext)) != nil {
		return true
	}
	return bk.quarantined(extQuarantineKey(scratch[:0], x, ext), now)
}

// hasExtensions reports whether x has a live extension, or one still in
// quarantine at now.
func (bk buckets) hasExtensions(x []byte, now time.Time) bool {
	prefix := prefixKey(string(x))
	if k, _ := bk.xExt.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
		return true
	}
	prefix = append(prefix, sep)
	c := bk.quarantine.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if until, ok := timeOfKey(v); ok && now.Before(until) {
			return true
		}
	}
	return false
}

// freshAttempts is how many random extensions allocExtension draws before
// it walks the whole space from a random start.
const freshAttempts = 64

// allocExtension picks an extension of length digits free on x (neither
// live nor quarantined): uniformly at random, so no extension says
// anything about the next one. A nearly full X falls back to a walk from a
// random point, bounded by the 10^length extensions there are.
func (bk buckets) allocExtension(x string, length int, now time.Time) (string, error) {
	space := uint64(1)
	for range length {
		space *= 10
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return "", fmt.Errorf("store: extension: %w", err)
	}
	rng := mrand.New(mrand.NewChaCha8(seed))
	format := func(n uint64) string {
		s := strconv.FormatUint(n, 10)
		for len(s) < length {
			s = "0" + s
		}
		return s
	}
	for range freshAttempts {
		if ext := format(rng.Uint64N(space)); !bk.extensionUsed(x, ext, now) {
			return ext, nil
		}
	}
	start := rng.Uint64N(space)
	for i := range space {
		if ext := format((start + i) % space); !bk.extensionUsed(x, ext, now) {
			return ext, nil
		}
	}
	return "", fmt.Errorf("store: every %d-digit extension of x %s is in use: %w", length, x, ErrNoNumber)
}

// keyedParties are the parties b keys on its X; "" is none.
func keyedParties(b Binding) [2]string { return [2]string{b.A, b.B} }

// insertModelKeys writes the keys only AXN and AXE have.
func (bk buckets) insertModelKeys(b Binding) error {
	id := []byte(b.ID)
	switch b.Model {
	case ModelAXN:
		return bk.xAny.Put([]byte(b.X), id)
	case ModelAXE:
		if err := bk.xExt.Put(extKey(nil, b.X, b.Extension), id); err != nil {
			return err
		}
		return bk.clearQuarantine(extQuarantineKey(nil, b.X, b.Extension))
	}
	return nil
}

// removeModelKeys deletes the keys only AXN and AXE have, quarantining an
// extension until until (zero: no quarantine).
func (bk buckets) removeModelKeys(b Binding, until time.Time) error {
	switch b.Model {
	case ModelAXN:
		if bytes.Equal(bk.xAny.Get([]byte(b.X)), []byte(b.ID)) {
			return bk.xAny.Delete([]byte(b.X))
		}
	case ModelAXE:
		if err := bk.xExt.Delete(extKey(nil, b.X, b.Extension)); err != nil {
			return err
		}
		if !until.IsZero() {
			return bk.putQuarantine(extQuarantineKey(nil, b.X, b.Extension), until, b.ID)
		}
	}
	return nil
}
