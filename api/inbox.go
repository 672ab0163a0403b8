package api

import (
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/xbridge/xbridge/store"
)

// inboxMessage is one SMS relayed to a binding's A, as the platform's app
// shows it: the sender masked, the text as sent.
type inboxMessage struct {
	MessageID   string    `json:"message_id"`
	At          time.Time `json:"at"`
	Sender      string    `json:"sender"`
	ContentType string    `json:"content_type,omitempty"`
	// Text is the body when it is UTF-8 text; Bytes its size either way.
	Text   string `json:"text,omitempty"`
	Bytes  int    `json:"bytes"`
	Status string `json:"status"`
}

type inbox struct {
	BindingID string `json:"binding_id"`
	// KeepBodies says whether the binding's pool keeps SMS bodies: without
	// it the inbox stays empty.
	KeepBodies bool           `json:"keep_bodies"`
	Messages   []inboxMessage `json:"messages"`
}

// listInbox is GET /v1/bindings/{id}/messages: the SMS relayed to A of a
// binding live or in its grace period, oldest first.
func (s *server) listInbox(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if len(id) > maxBindingID {
		return notFound("binding")
	}
	b, err := s.st.GetBinding(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		b, _, err = s.st.GraceBinding(r.Context(), id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound("binding")
	}
	if err != nil {
		return err
	}
	settings, err := s.st.PoolSettings(r.Context(), b.Pool)
	if err != nil {
		return err
	}
	entries, err := s.st.Inbox(r.Context(), b.ID)
	if err != nil {
		return err
	}
	out := inbox{BindingID: b.ID, KeepBodies: settings.SMS.KeepBodies, Messages: []inboxMessage{}}
	for _, e := range entries {
		m := inboxMessage{MessageID: e.MessageID, At: e.At, Sender: maskNumber(e.Sender),
			ContentType: e.ContentType, Bytes: len(e.Body), Status: e.Status}
		if utf8.Valid(e.Body) {
			m.Text = string(e.Body)
		}
		out.Messages = append(out.Messages, m)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
