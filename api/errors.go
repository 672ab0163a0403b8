package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// apiError is an answer other than success. Handlers return it; anything
// else they return is an internal error, logged and answered with 500.
type apiError struct {
	status  int
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	if e.Field != "" {
		return e.Code + " " + e.Field + ": " + e.Message
	}
	return e.Code + ": " + e.Message
}

type errorBody struct {
	Error *apiError `json:"error"`
}

func invalidField(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, Code: "invalid_field", Field: field, Message: fmt.Sprintf(format, args...)}
}

func invalidJSON(status int, format string, args ...any) *apiError {
	return &apiError{status: status, Code: "invalid_json", Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) *apiError {
	return &apiError{status: http.StatusNotFound, Code: "not_found", Message: what + " not found"}
}

func conflict(code, field, message string) *apiError {
	return &apiError{status: http.StatusConflict, Code: code, Field: field, Message: message}
}

func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		// The store's words stay in the log: they may name files, buckets
		// or numbers of other parties.
		s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("api: internal error")
		e = &apiError{status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	writeJSON(w, e.status, errorBody{e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here; they always marshal.
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
