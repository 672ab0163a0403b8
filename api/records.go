package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/store"
)

// Call records and dead letters: GET /v1/records pages the records of the
// calls (filtered by binding, order ID, X and the time the call began) with
// an opaque cursor; GET /v1/events/dead lists the events whose delivery was
// given up, and POST /v1/events/dead/{id}/retry sends one again.

const (
	defaultRecordPage = 100
	defaultDeadPage   = 100
	maxDeadPage       = 1000
)

type recordList struct {
	Records []events.RecordView `json:"records"`
	// Next is the cursor of the next page; absent after the last.
	Next string `json:"next,omitempty"`
}

// cursor wraps a record ID so clients treat it as opaque: what it holds may
// change.
func encodeCursor(id string) string {
	if id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

func decodeCursor(name, c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 || len(b) > 64 {
		return "", invalidField(name, "not a cursor this API returned")
	}
	return string(b), nil
}

func (s *server) listRecords(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalidField("query", "malformed query string")
	}
	f := store.RecordFilter{Limit: defaultRecordPage}
	for name, values := range q {
		if len(values) != 1 {
			return invalidField(name, "given %d times", len(values))
		}
		v := values[0]
		switch name {
		case "binding":
			if v == "" || len(v) > 64 {
				err = invalidField(name, "must be a binding id")
			}
			f.BindingID = v
		case fieldOrderID:
			err = checkOrderID(v)
			f.OrderID = v
		case "x":
			f.X, err = s.storedNumber(name, v)
		case "since", "until":
			var t time.Time
			if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				err = invalidField(name, "must be an RFC 3339 time")
			}
			if name == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		case "cursor":
			f.After, err = decodeCursor(name, v)
		case "limit":
			f.Limit, err = strconv.Atoi(v)
			if err != nil || f.Limit < 1 || f.Limit > store.MaxRecordPage {
				err = invalidField(name, "must be an integer from 1 to %d", store.MaxRecordPage)
			}
		default:
			err = invalidField(name, "unknown query parameter")
		}
		if err != nil {
			return err
		}
	}
	set := 0
	for _, v := range []string{f.BindingID, f.OrderID, f.X} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return invalidField("binding", "filter by one of binding, order_id and x")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return invalidField("until", "must be after since")
	}
	recs, next, err := s.st.Records(r.Context(), f)
	if err != nil {
		return err
	}
	out := recordList{Records: make([]events.RecordView, len(recs)), Next: encodeCursor(next)}
	for i, rec := range recs {
		out.Records[i] = events.ViewOf(rec)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getRecord(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.st.Record(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no such call record"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, events.ViewOf(rec))
	return nil
}

// deadView is a dead letter: the event as its receiver would have got it,
// and why it was given up.
type deadView struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Pool      string          `json:"pool,omitempty"`
	BindingID string          `json:"binding_id,omitempty"`
	At        events.Time     `json:"at"`
	DeadAt    events.Time     `json:"dead_at"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	Event     json.RawMessage `json:"event"`
}

type deadList struct {
	Events []deadView `json:"events"`
	Next   string     `json:"next,omitempty"`
}

func (s *server) listDead(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalidField("query", "malformed query string")
	}
	limit, after := defaultDeadPage, ""
	for name, values := range q {
		if len(values) != 1 {
			return invalidField(name, "given %d times", len(values))
		}
		switch name {
		case "cursor":
			after, err = decodeCursor(name, values[0])
		case "limit":
			limit, err = strconv.Atoi(values[0])
			if err != nil || limit < 1 || limit > maxDeadPage {
				err = invalidField(name, "must be an integer from 1 to %d", maxDeadPage)
			}
		default:
			err = invalidField(name, "unknown query parameter")
		}
		if err != nil {
			return err
		}
	}
	dead, err := s.st.DeadEvents(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	out := deadList{Events: []deadView{}}
	if len(dead) > limit {
		dead = dead[:limit]
		out.Next = encodeCursor(dead[limit-1].ID)
	}
	for _, d := range dead {
		body := json.RawMessage(d.Body)
		if !json.Valid(body) {
			body = nil
		}
		out.Events = append(out.Events, deadView{
			ID: d.ID, Type: d.Type, Pool: d.Pool, BindingID: d.BindingID, At: events.Time(d.At),
			DeadAt: events.Time(d.DeadAt), Attempts: d.Attempts, LastError: d.LastError, Event: body,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) retryDead(w http.ResponseWriter, r *http.Request) error {
	entry, err := s.st.RetryDead(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no such dead event"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": entry.ID, "status": "queued"})
	return nil
}
