package api

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"

	"github.com/xbridge/xbridge/store"
)

// WithRecordings serves the call recordings kept in dir (the engine's:
// <record id>.wav) at GET /v1/records/{id}/recording.
func WithRecordings(dir string) Option { return func(s *server) { s.recordings = dir } }

// getRecording streams a call's recording, with HTTP range requests
// (http.ServeContent), for a record that says it was recorded.
func (s *server) getRecording(w http.ResponseWriter, r *http.Request) error {
	notRecorded := &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no recording of this call"}
	rec, err := s.st.Record(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no such call record"}
	}
	if err != nil {
		return err
	}
	if s.recordings == "" || rec.Recording == "" || rec.Recording == "failed" {
		return notRecorded
	}
	// The ID is the store's, not the request's: it names no other file.
	f, err := os.Open(filepath.Join(s.recordings, rec.ID+".wav"))
	if errors.Is(err, os.ErrNotExist) {
		return notRecorded
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", `attachment; filename="`+rec.ID+`.wav"`)
	http.ServeContent(w, r, "", st.ModTime(), f)
	return nil
}
