package api

import (
	"strings"

	"github.com/xbridge/xbridge/store"
)

// parseModel reads "axb" (the default), "axn" or "axe", in any case.
func parseModel(s string) (store.Model, error) {
	switch strings.ToLower(s) {
	case "", "axb":
		return store.ModelAXB, nil
	case "axn":
		return store.ModelAXN, nil
	case "axe":
		return store.ModelAXE, nil
	}
	return "", invalidField("model", "must be one of axb, axn, axe, not %q", s)
}

// parsePolicy reads the enumerations of a policy. The defaults ("both",
// "x") are stored as the zero value, so a binding given them explicitly and
// one given nothing are the same binding. The store checks the numbers.
func parsePolicy(direction, display string) (store.Policy, error) {
	var p store.Policy
	d, err := parseDirection(direction)
	if err != nil {
		return p, err
	}
	c, err := parseDisplay(display)
	if err != nil {
		return p, err
	}
	p.Direction, p.CallerDisplay = d, c
	return p, nil
}

func parseDirection(s string) (store.Direction, error) {
	switch store.Direction(s) {
	case "", store.DirectionBoth:
		return "", nil
	case store.DirectionAToB, store.DirectionBToA:
		return store.Direction(s), nil
	}
	return "", invalidField("direction", "must be one of both, a_to_b, b_to_a, not %q", s)
}

func parseDisplay(s string) (store.CallerDisplay, error) {
	switch store.CallerDisplay(s) {
	case "", store.DisplayX:
		return "", nil
	case store.DisplayReal:
		return store.DisplayReal, nil
	}
	return "", invalidField("caller_display", "must be one of x, real, not %q", s)
}
