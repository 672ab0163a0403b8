package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/xbridge/xbridge/store"
)

// patchRequest is the body of PATCH /v1/bindings/{id}: a JSON merge patch
// (RFC 7396) of the binding as GET shows it. Every member is kept raw, to
// tell a member that is absent (nil: unchanged) from one that is null
// (remove: back to the default), which encoding/json alone cannot.
type patchRequest struct {
	A              json.RawMessage `json:"a"`
	B              json.RawMessage `json:"b"`
	TTLSeconds     json.RawMessage `json:"ttl_seconds"`
	ExpiresAt      json.RawMessage `json:"expires_at"`
	OrderID        json.RawMessage `json:"order_id"`
	Direction      json.RawMessage `json:"direction"`
	MaxCallSeconds json.RawMessage `json:"max_call_seconds"`
	WarnSeconds    json.RawMessage `json:"warn_seconds"`
	CallerDisplay  json.RawMessage `json:"caller_display"`
	Record         json.RawMessage `json:"record"`
	UserData       json.RawMessage `json:"user_data"`
	// SMSGraceSeconds: null, back to the pool's; 0, none.
	SMSGraceSeconds json.RawMessage `json:"sms_grace_seconds"`
	WebhookURL      json.RawMessage `json:"webhook_url"`
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// member reads one member of a patch into v. It reports whether the member
// was given; null gives v's zero value when the field may be removed.
func member[T any](field string, raw json.RawMessage, removable bool, v *T) (bool, error) {
	if raw == nil {
		return false, nil
	}
	if isNull(raw) {
		if !removable {
			return false, invalidField(field, "cannot be removed")
		}
		var zero T
		*v = zero
		return true, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, invalidField(field, "must be %s", jsonTypeOf(*v))
	}
	return true, nil
}

func jsonTypeOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int, int64:
		return "an integer"
	case bool:
		return "true or false"
	}
	return "a value of another type"
}

func (s *server) patchBinding(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if len(id) > maxBindingID {
		return notFound("binding")
	}
	var req patchRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.patch(req)
	if err != nil {
		return err
	}
	if p.Webhook != nil && *p.Webhook != "" {
		cur, err := s.st.GetBinding(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return notFound("binding")
		case err != nil:
			return err
		}
		if err := s.checkWebhook(cur.Pool, *p.Webhook); err != nil {
			return err
		}
	}
	var a, b string
	if p.A != nil {
		a = *p.A
	}
	if p.B != nil {
		b = *p.B
	}
	if err := s.notMiddleNumbers(r.Context(), a, b); err != nil {
		return err
	}
	out, err := s.st.UpdateBinding(r.Context(), id, p)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("binding")
	case err != nil:
		return storeError(err, "")
	}
	writeJSON(w, http.StatusOK, s.view(out))
	return nil
}

// patch validates and normalises a merge patch; nothing reaches the store
// unless all of it is good.
func (s *server) patch(req patchRequest) (store.Patch, error) {
	var p store.Patch
	number := func(field string) func(string) (string, error) {
		return func(v string) (string, error) { return s.number(field, v, false) }
	}
	same := func(v int) (int, error) { return v, nil }
	err := errors.Join(
		set("a", req.A, false, number("a"), &p.A),
		set("b", req.B, true, number("b"), &p.B),
		set(fieldOrderID, req.OrderID, true, func(v string) (string, error) { return v, checkOrderID(v) }, &p.OrderID),
		set("direction", req.Direction, true, parseDirection, &p.Direction),
		set("caller_display", req.CallerDisplay, true, parseDisplay, &p.CallerDisplay),
		set("max_call_seconds", req.MaxCallSeconds, true, same, &p.MaxCallSeconds),
		set("warn_seconds", req.WarnSeconds, true, same, &p.WarnSeconds),
		set("record", req.Record, true, func(v bool) (bool, error) { return v, nil }, &p.Record),
		set("user_data", req.UserData, true, func(v string) (string, error) { return v, nil }, &p.UserData),
		setGrace(req.SMSGraceSeconds, &p.SMSGraceSeconds),
		set("webhook_url", req.WebhookURL, true, func(v string) (string, error) { return v, nil }, &p.Webhook),
	)
	if err != nil {
		// The first field at fault answers, as for POST.
		return p, firstAPIError(err)
	}
	if p.A != nil && p.B != nil && *p.A == *p.B {
		return p, invalidField("b", "a and b are the same number")
	}
	var ttl *int64
	var at *string
	if err := errors.Join(
		set(fieldTTL, req.TTLSeconds, false, func(v int64) (int64, error) { return v, nil }, &ttl),
		set(fieldExpires, req.ExpiresAt, false, func(v string) (string, error) { return v, nil }, &at),
	); err != nil {
		return p, firstAPIError(err)
	}
	if ttl != nil || at != nil {
		t, err := s.expiry(ttl, at)
		if err != nil {
			return p, err
		}
		p.ExpiresAt = &t
	}
	return p, nil
}

// set reads member raw of a patch through parse into *dst: absent leaves
// *dst nil, null sets the zero value (where the field may be removed).
func set[V, T any](field string, raw json.RawMessage, removable bool, parse func(V) (T, error), dst **T) error {
	var v V
	ok, err := member(field, raw, removable, &v)
	if err != nil || !ok {
		return err
	}
	t, err := parse(v)
	if err != nil {
		return err
	}
	*dst = &t
	return nil
}

// firstAPIError is the first *apiError of a joined error.
func firstAPIError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()[0]
	}
	return err
}

// setGrace reads sms_grace_seconds from a patch: null is the pool's grace
// again (the store's 0), a number as smsGrace reads it.
func setGrace(raw json.RawMessage, dst **int) error {
	if raw == nil {
		return nil
	}
	var v int
	if isNull(raw) {
		*dst = &v
		return nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return invalidField("sms_grace_seconds", "must be an integer")
	}
	g, err := smsGrace(v)
	if err != nil {
		return err
	}
	*dst = &g
	return nil
}
