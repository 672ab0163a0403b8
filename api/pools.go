package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/xbridge/xbridge/store"
)

const maxPoolName = 64

type addNumbersRequest struct {
	Numbers []string `json:"numbers"`
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
	added, err := s.st.AddNumbers(r.Context(), pool, numbers)
	if errors.Is(err, store.ErrInvalid) {
		// A number taken by another pool between the check above and now.
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

func (s *server) getPool(w http.ResponseWriter, r *http.Request) error {
	pool := r.PathValue("pool")
	if err := checkPoolName(pool); err != nil {
		return err
	}
	info, err := s.st.Pool(r.Context(), pool)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("pool")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
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
