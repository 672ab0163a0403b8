package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc describes this API; a test keeps it in step with the routes.
//
//go:embed openapi.yaml
var openAPIDoc []byte

func (s *server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/yaml")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
	return nil
}
