package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/xbridge/xbridge/store"
)

const maxPoolName = 64

type addNumbersRequest struct {
	Numbers []string `json:"numbers"`
	Area    string   `json:"area"`
}

type addNumbersResponse struct {
	Pool  string `json:"pool"`
	Added int    `json:"added"`
	Size  int    `json:"size"`
}

func (s *server) addNumbers(w http.ResponseWriter, r *http.Request) error {
	pool := r.PathValue("pool")
	if err := checkPoolName(pool); err != nil {
		return err
	}
	var req addNumbersRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Numbers) == 0 {
		return invalidField("numbers", "at least one number is required")
	}
	if err := checkAreaCode(req.Area); err != nil {
		return err
	}
	numbers := make([]string, len(req.Numbers))
	for i, n := range req.Numbers {
		field := "numbers[" + strconv.Itoa(i) + "]"
		var err error
		if numbers[i], err = s.number(field, n, true); err != nil {
			return err
		}
	}
	// A number belongs to one pool: say which one is taken, by index, before
	// the store refuses the whole upload.
	for i, n := range numbers {
		owner, ok, err := s.st.InPool(r.Context(), n)
		if err != nil {
			return err
		}
		if ok && owner != pool {
			return conflict("conflict", "numbers["+strconv.Itoa(i)+"]", "number is in pool "+strconv.Quote(owner))
		}
	}
	added, err := s.st.AddAreaNumbers(r.Context(), pool, req.Area, numbers)
	if errors.Is(err, store.ErrInvalid) {
		// A number taken by another pool between the check above and now,
		// or one already in this pool under another area.
		return conflict("conflict", "numbers", strings.TrimPrefix(err.Error(), "store: "))
	}
	if err != nil {
		return err
	}
	info, err := s.st.Pool(r.Context(), pool)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, addNumbersResponse{Pool: pool, Added: added, Size: info.Size})
	return nil
}

// poolResponse is GET /v1/pools/{pool}: the counters, the use per area,
// the settings in force, and one page of the numbers.
type poolResponse struct {
	store.PoolInfo
	Areas       []store.AreaInfo   `json:"areas"`
	Settings    PoolSettingsDoc    `json:"settings"`
	Numbers     []store.NumberInfo `json:"numbers"`
	NumbersNext string             `json:"numbers_next,omitempty"` // numbers_after for the next page
	// Quarantine is a page of the pairs in their cool-down; QuarantineNext
	// is quarantine_after for the next page.
	Quarantine     []store.QuarantinedPair `json:"quarantine"`
	QuarantineNext string                  `json:"quarantine_next,omitempty"`
}

const (
	defaultNumbersPage = 100
	maxNumbersPage     = 1000
)

func (s *server) getPool(w http.ResponseWriter, r *http.Request) error {
	pool := r.PathValue("pool")
	if err := checkPoolName(pool); err != nil {
		return err
	}
	pg, err := s.poolPages(r)
	if err != nil {
		return err
	}
	after, limit := pg.numbersAfter, pg.numbersLimit
	info, err := s.st.Pool(r.Context(), pool)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("pool")
	}
	if err != nil {
		return err
	}
	out := poolResponse{PoolInfo: info}
	if out.Areas, err = s.st.PoolAreas(r.Context(), pool); err != nil {
		return err
	}
	settings, err := s.st.PoolSettings(r.Context(), pool)
	if err != nil {
		return err
	}
	out.Settings = settingsDoc(settings)
	// One more than the page tells whether there is a next one.
	if out.Numbers, err = s.st.PoolNumbers(r.Context(), pool, after, limit+1); err != nil {
		return err
	}
	if len(out.Numbers) > limit {
		out.Numbers = out.Numbers[:limit]
		out.NumbersNext = out.Numbers[limit-1].Number
	}
	out.Quarantine, err = s.st.QuarantinedPairs(r.Context(), pool, pg.quarantineAfter, pg.quarantineLimit+1)
	if errors.Is(err, store.ErrInvalid) {
		return invalidField("quarantine_after", "not a cursor this API gave (quarantine_next)")
	}
	if err != nil {
		return err
	}
	if n := pg.quarantineLimit; len(out.Quarantine) > n {
		out.Quarantine = out.Quarantine[:n]
		out.QuarantineNext = out.Quarantine[n-1].Cursor()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// poolPage is where GET /v1/pools/{pool} starts its two lists.
type poolPage struct {
	numbersAfter    string
	numbersLimit    int
	quarantineAfter string
	quarantineLimit int
}

// poolPages reads numbers_after, numbers_limit, quarantine_after and
// quarantine_limit.
func (s *server) poolPages(r *http.Request) (poolPage, error) {
	pg := poolPage{numbersLimit: defaultNumbersPage, quarantineLimit: defaultNumbersPage}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return pg, invalidField("query", "malformed query string")
	}
	for name, values := range q {
		if len(values) != 1 {
			return pg, invalidField(name, "given %d times", len(values))
		}
		v := values[0]
		switch name {
		case "numbers_after":
			if pg.numbersAfter, err = s.storedNumber(name, v); err != nil {
				return pg, err
			}
		case "numbers_limit", "quarantine_limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxNumbersPage {
				return pg, invalidField(name, "must be an integer from 1 to %d", maxNumbersPage)
			}
			if name == "numbers_limit" {
				pg.numbersLimit = n
			} else {
				pg.quarantineLimit = n
			}
		case "quarantine_after":
			if len(v) > 64 {
				return pg, invalidField(name, "not a cursor this API gave (quarantine_next)")
			}
			pg.quarantineAfter = v
		default:
			return pg, invalidField(name, "unknown query parameter")
		}
	}
	return pg, nil
}

func (s *server) disableNumber(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, true)
}

func (s *server) enableNumber(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, false)
}

// setDisabled takes a number out of allocation (its live bindings run
// out) or puts it back.
func (s *server) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) error {
	pool, x, err := s.poolNumber(r)
	if err != nil {
		return err
	}
	info, err := s.st.SetNumberDisabled(r.Context(), pool, x, disabled)
	if errors.Is(err, store.ErrNotInPool) {
		return notFound("number")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// deleteNumber removes a number nothing live or quarantined uses.
func (s *server) deleteNumber(w http.ResponseWriter, r *http.Request) error {
	pool, x, err := s.poolNumber(r)
	if err != nil {
		return err
	}
	err = s.st.DeleteNumber(r.Context(), pool, x)
	switch {
	case errors.Is(err, store.ErrNotInPool):
		return notFound("number")
	case errors.Is(err, store.ErrNumberInUse):
		return conflict("number_in_use", "x", "the number has a live binding or a pair in quarantine; disable it and wait")
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// poolNumber reads {pool} and {x} of the path.
func (s *server) poolNumber(r *http.Request) (pool, x string, err error) {
	pool = r.PathValue("pool")
	if err := checkPoolName(pool); err != nil {
		return "", "", err
	}
	x, err = s.storedNumber("x", r.PathValue("x"))
	if err != nil {
		return "", "", err
	}
	return pool, x, nil
}

// areaOfRequest checks a binding request's area and area_match.
func areaOfRequest(area, match string) (string, store.AreaMatch, error) {
	if err := checkAreaCode(area); err != nil {
		return "", "", err
	}
	switch m := store.AreaMatch(match); m {
	case "", store.AreaStrict, store.AreaLoose:
		if m != "" && area == "" {
			return "", "", invalidField("area_match", "needs an area")
		}
		return area, m, nil
	}
	return "", "", invalidField("area_match", "must be %q or %q, not %q", store.AreaStrict, store.AreaLoose, match)
}

// checkAreaCode enforces the store's area rule (2 to 8 digits), naming the field.
func checkAreaCode(area string) error {
	if err := store.CheckArea(area); err != nil {
		return invalidField("area", "must be a city or region code of 2 to 8 digits, not %q", area)
	}
	return nil
}

// checkPoolName enforces [A-Za-z0-9_-]{1,64}.
func checkPoolName(name string) error {
	if name == "" || len(name) > maxPoolName {
		return invalidField(fieldPoolName, "must be 1 to %d characters", maxPoolName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return invalidField(fieldPoolName, "only letters, digits, '_' and '-' are allowed")
		}
	}
	return nil
}
