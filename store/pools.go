package store

import (
	"context"
	"errors"
	"fmt"
)

// Pools is the part of Store that manages number pools beyond adding
// numbers: areas, disabling and removing numbers, listing them, and the
// pools' operator settings (pool_settings.go).
type Pools interface {
	// AddAreaNumbers is AddNumbers with every number in area (a city or
	// region code, 2 to 8 digits; "" for none). A number already in the pool
	// under another area fails the call (ErrInvalid) and nothing is added.
	AddAreaNumbers(ctx context.Context, pool, area string, numbers []string) (added int, err error)
	// SetNumberDisabled disables x (no new bindings; live ones run out) or
	// enables it again. ErrNotInPool when x is not a number of pool.
	SetNumberDisabled(ctx context.Context, pool, x string, disabled bool) (NumberInfo, error)
	// DeleteNumber removes x from pool: ErrNumberInUse while a live binding
	// or a quarantined pair uses it, ErrNotInPool when it is not there.
	DeleteNumber(ctx context.Context, pool, x string) error
	// PoolAreas returns the use of each area of pool, in area order.
	PoolAreas(ctx context.Context, pool string) ([]AreaInfo, error)
	// PoolNumbers lists up to limit numbers of pool (0: the default 1000)
	// greater than after, in number order: a page; the next page starts
	// after the last number returned.
	PoolNumbers(ctx context.Context, pool, after string, limit int) ([]NumberInfo, error)
	// QuarantinedPairs lists up to limit of pool's (X, party) and (X,
	// extension) pairs in their cool-down after the cursor after (""
	// first; QuarantinedPair.Cursor of the last for the next page). A
	// cursor that is no such pair's is ErrInvalid.
	QuarantinedPairs(ctx context.Context, pool, after string, limit int) ([]QuarantinedPair, error)
	// PoolSettings returns pool's settings with every default filled in
	// (an unknown pool has the defaults); SetPoolSettings replaces them
	// whole, creating the pool if needed. A bad field is a *SettingError.
	PoolSettings(ctx context.Context, pool string) (PoolSettings, error)
	SetPoolSettings(ctx context.Context, pool string, s PoolSettings) error
	// PoolPrompts returns every pool's own prompts (name to file, as
	// PoolSettings.Prompts holds them), for the pools that set any: what
	// the engine loads at start.
	PoolPrompts(ctx context.Context) (map[string]map[string]string, error)
}

// NumberInfo is one number of a pool.
type NumberInfo struct {
	Number   string `json:"number"`
	Area     string `json:"area,omitempty"`
	Disabled bool   `json:"disabled"`
	Bindings int    `json:"bindings"` // live bindings on it
}

// ModelCounts are live bindings per model.
type ModelCounts struct {
	AXB int `json:"axb"`
	AXN int `json:"axn"`
	AXE int `json:"axe"`
}

// AreaInfo is the use of one area of a pool.
type AreaInfo struct {
	Area     string `json:"area"`     // "" for numbers added without an area
	Size     int    `json:"size"`     // numbers
	Enabled  int    `json:"enabled"`  // numbers open to new bindings
	Idle     int    `json:"idle"`     // enabled numbers with no live binding
	Bindings int    `json:"bindings"` // live bindings
}

var (
	// ErrNoAreaNumber is ErrNoNumber for a strict area: no number of the
	// requested area fits (errors.Is(err, ErrNoNumber) holds too).
	ErrNoAreaNumber = fmt.Errorf("no number of the area available: %w", ErrNoNumber)
	// ErrNumberDisabled: an explicitly requested X is disabled.
	ErrNumberDisabled = errors.New("number is disabled")
	// ErrNumberInUse: a number to delete still has a live binding or a
	// quarantined pair.
	ErrNumberInUse = errors.New("number in use")
)

// Limits of areas.
const (
	minArea = 2
	maxArea = 8
)

// CheckArea reports whether area is acceptable: "" or 2 to 8 digits (the API's limit, 8).
func CheckArea(area string) error {
	if area == "" {
		return nil
	}
	return checkNumber("area", area, minArea, maxArea)
}
