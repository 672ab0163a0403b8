package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/xbridge/xbridge/store"
)

const (
	defaultPool    = "default"
	maxOrderID     = 128
	maxListLimit   = 1000
	maxBindingID   = 128
	bindingsPath   = "/v1/bindings/"
	fieldTTL       = "ttl_seconds"
	fieldExpires   = "expires_at"
	fieldOrderID   = "order_id"
	fieldPoolName  = "pool"
	fieldExtension = "extension"
)

// bindingRequest is the body of POST /v1/bindings. TTL and expiry are
// pointers so that "absent" and "zero" differ.
type bindingRequest struct {
	Model      string  `json:"model"`
	A          string  `json:"a"`
	B          string  `json:"b"`
	X          string  `json:"x"`
	Pool       string  `json:"pool"`
	Extension  string  `json:"extension"`
	Area       string  `json:"area"`
	AreaMatch  string  `json:"area_match"`
	TTLSeconds *int64  `json:"ttl_seconds"`
	ExpiresAt  *string `json:"expires_at"`
	OrderID    string  `json:"order_id"`

	Direction      string `json:"direction"`
	MaxCallSeconds int    `json:"max_call_seconds"`
	WarnSeconds    int    `json:"warn_seconds"`
	CallerDisplay  string `json:"caller_display"`
	Record         bool   `json:"record"`
	UserData       string `json:"user_data"`
	// SMSGraceSeconds: absent, the pool's grace period; 0, none.
	SMSGraceSeconds *int `json:"sms_grace_seconds"`
	// TrackNos are the parcels' tracking numbers (waybill lookup).
	TrackNos []string `json:"track_nos"`
	// WebhookURL receives the binding's events instead of its pool's
	// webhook, where the pool's webhook config allows it.
	WebhookURL string `json:"webhook_url"`
}

type bindingList struct {
	Bindings []bindingView `json:"bindings"`
}

func (s *server) createBinding(w http.ResponseWriter, r *http.Request) error {
	var req bindingRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	nb, err := s.newBinding(req)
	if err != nil {
		return err
	}
	if err := s.notMiddleNumbers(r.Context(), nb.A, nb.B); err != nil {
		return err
	}
	b, created, err := s.st.CreateBinding(r.Context(), nb)
	if err != nil {
		return storeError(err, nb.Pool)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", bindingsPath+url.PathEscape(b.ID))
	}
	v := s.view(b)
	if v.TrackNos, err = s.st.TrackNos(r.Context(), b.ID); err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// notMiddleNumbers refuses parties that are numbers of a pool. A middle
// number given as a party is a platform's mix-up; bound, it would route a
// call back into xbridge and fail there, unexplained.
func (s *server) notMiddleNumbers(ctx context.Context, a, b string) error {
	for _, p := range []struct{ field, number string }{{"a", a}, {"b", b}} {
		if p.number == "" {
			continue
		}
		pool, ok, err := s.st.InPool(ctx, p.number)
		if err != nil {
			return err
		}
		if ok {
			return invalidField(p.field, "is a middle number of pool %q, not a party", pool)
		}
	}
	return nil
}

// storeError turns what CreateBinding and UpdateBinding refuse into the
// API's answer.
func storeError(err error, pool string) error {
	var fe *store.FieldError
	switch {
	case errors.Is(err, store.ErrOrderConflict):
		return conflict("conflict", fieldOrderID, "order_id is already bound to other parties")
	case errors.Is(err, store.ErrNoAreaNumber):
		return conflict("no_number", "area", "no number of the area is free for these parties (area_match loose falls back to any area)")
	case errors.Is(err, store.ErrNumberDisabled):
		return conflict("number_disabled", "x", "x is disabled: it takes no new bindings")
	case errors.Is(err, store.ErrNoNumber):
		return conflict("no_number", fieldPoolName, "no number of pool "+strconv.Quote(pool)+" is free for these parties")
	case errors.Is(err, store.ErrPartyBusy):
		return conflict("conflict", "x", "a or b already has a binding (or a recently ended one) on this x")
	case errors.Is(err, store.ErrSlotTaken):
		return conflict("slot_taken", "x", "this x already has an AXN, or AXE extensions: the two cannot share a number")
	case errors.Is(err, store.ErrExtensionTaken):
		return conflict("conflict", fieldExtension, "the extension is in use on this x, or was recently")
	case errors.Is(err, store.ErrNotInPool):
		return invalidField("x", "not a number of pool %q", pool)
	case errors.Is(err, store.ErrTrackNoTaken):
		return conflict("track_no_taken", "track_nos", strings.TrimPrefix(err.Error(), "store: "))
	case errors.As(err, &fe):
		return invalidField(fe.Field, "%s", fe.Reason)
	case errors.Is(err, store.ErrInvalid):
		// Only where the store is stricter than the checks above, e.g. an
		// expires_at that passed by the time the store looked at it.
		return invalidField("", "%s", strings.TrimPrefix(err.Error(), "store: "))
	}
	return err
}

// newBinding validates and normalises a request; nothing reaches the store
// unless all of it is good.
func (s *server) newBinding(req bindingRequest) (store.NewBinding, error) {
	model, err := parseModel(req.Model)
	if err != nil {
		return store.NewBinding{}, err
	}
	a, err := s.number("a", req.A, true)
	if err != nil {
		return store.NewBinding{}, err
	}
	if model == store.ModelAXE && req.B != "" {
		return store.NewBinding{}, invalidField("b", "an AXE binding has no b: its callers key the extension")
	}
	b, err := s.number("b", req.B, model == store.ModelAXB)
	if err != nil {
		return store.NewBinding{}, err
	}
	if a == b {
		return store.NewBinding{}, invalidField("b", "a and b are the same number")
	}
	x, err := s.storedNumber("x", req.X)
	if err != nil {
		return store.NewBinding{}, err
	}
	if x != "" && (x == a || x == b) {
		return store.NewBinding{}, invalidField("x", "x is the number of a party")
	}
	pool := req.Pool
	if pool == "" {
		pool = defaultPool
	}
	if err := checkPoolName(pool); err != nil {
		return store.NewBinding{}, err
	}
	expires, err := s.expiry(req.TTLSeconds, req.ExpiresAt)
	if err != nil {
		return store.NewBinding{}, err
	}
	if err := checkOrderID(req.OrderID); err != nil {
		return store.NewBinding{}, err
	}
	area, match, err := areaOfRequest(req.Area, req.AreaMatch)
	if err != nil {
		return store.NewBinding{}, err
	}
	policy, err := parsePolicy(req.Direction, req.CallerDisplay)
	if err != nil {
		return store.NewBinding{}, err
	}
	policy.MaxCallSeconds, policy.WarnSeconds = req.MaxCallSeconds, req.WarnSeconds
	policy.Record, policy.UserData = req.Record, req.UserData
	if req.SMSGraceSeconds != nil {
		if policy.SMSGraceSeconds, err = smsGrace(*req.SMSGraceSeconds); err != nil {
			return store.NewBinding{}, err
		}
	}
	if req.WebhookURL != "" {
		if err := s.checkWebhook(pool, req.WebhookURL); err != nil {
			return store.NewBinding{}, err
		}
		policy.Webhook = req.WebhookURL
	}
	return store.NewBinding{
		Model: model, Pool: pool, X: x, A: a, B: b, Extension: req.Extension,
		Area: area, AreaMatch: match,
		OrderID: req.OrderID, Policy: policy, ExpiresAt: expires, TrackNos: req.TrackNos,
	}, nil
}

// checkWebhook asks the binary whether a binding of pool may send its
// events to url (WithWebhookCheck); without a check no binding may.
func (s *server) checkWebhook(pool, url string) error {
	if s.webhookCheck == nil {
		return invalidField("webhook_url", "this engine takes no per-binding webhook URLs")
	}
	if err := s.webhookCheck(pool, url); err != nil {
		return invalidField("webhook_url", "%v", err)
	}
	return nil
}

// WithWebhookCheck says which webhook_url a binding of a pool may name
// (nil error: allowed).
func WithWebhookCheck(check func(pool, url string) error) Option {
	return func(s *server) { s.webhookCheck = check }
}

// maxSMSGraceSeconds bounds a binding's grace period: a year and a month,
// like the pools'.
const maxSMSGraceSeconds = 400 * 24 * 3600

// smsGrace is sms_grace_seconds as the store keeps it: 0 (none) is
// store.NoSMSGrace, since the store's 0 is the pool's.
func smsGrace(v int) (int, error) {
	switch {
	case v < 0 || v > maxSMSGraceSeconds:
		return 0, invalidField("sms_grace_seconds", "must be 0 (none) to %d, not %d", maxSMSGraceSeconds, v)
	case v == 0:
		return store.NoSMSGrace, nil
	}
	return v, nil
}

// expiry turns exactly one of ttl_seconds and expires_at into an instant
// within the maximum TTL.
func (s *server) expiry(ttl *int64, at *string) (time.Time, error) {
	now := s.now()
	maxTTL := s.maxTTL
	switch {
	case ttl != nil && at != nil:
		return time.Time{}, invalidField(fieldTTL, "give one of ttl_seconds and expires_at, not both")
	case ttl == nil && at == nil:
		return time.Time{}, invalidField(fieldTTL, "one of ttl_seconds and expires_at is required")
	case ttl != nil:
		if *ttl <= 0 {
			return time.Time{}, invalidField(fieldTTL, "must be positive, not %d", *ttl)
		}
		if *ttl > int64(maxTTL/time.Second) {
			return time.Time{}, invalidField(fieldTTL, "at most %d seconds", int64(maxTTL/time.Second))
		}
		return now.Add(time.Duration(*ttl) * time.Second).UTC().Round(0), nil
	}
	t, err := time.Parse(time.RFC3339, *at)
	if err != nil {
		return time.Time{}, invalidField(fieldExpires, "not an RFC 3339 time: %q", *at)
	}
	if !t.After(now) {
		return time.Time{}, invalidField(fieldExpires, "must be in the future")
	}
	if t.Sub(now) > maxTTL {
		return time.Time{}, invalidField(fieldExpires, "more than %s ahead (the maximum TTL)", maxTTL)
	}
	return t.UTC(), nil
}

// getBinding shows a live binding, or one in its SMS grace period, with
// its tracking numbers.
func (s *server) getBinding(w http.ResponseWriter, r *http.Request) error {
	return s.withBinding(w, r, s.st.GetBinding, func(ctx context.Context, id string) (bindingView, error) {
		b, until, err := s.st.GraceBinding(ctx, id)
		v := s.view(b)
		v.State, v.GraceUntil = stateGrace, &until
		return v, err
	})
}

type trackNosRequest struct {
	TrackNos []string `json:"track_nos"`
}

type trackNosAnswer struct {
	BindingID string   `json:"binding_id"`
	TrackNos  []string `json:"track_nos"`
}

// addTrackNos is POST /v1/bindings/{id}/track_nos: more tracking numbers
// for a binding live or in grace.
func (s *server) addTrackNos(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if len(id) > maxBindingID {
		return notFound("binding")
	}
	var req trackNosRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	nos, err := s.st.AddTrackNos(r.Context(), id, req.TrackNos)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("binding")
	case err != nil:
		return storeError(err, "")
	}
	writeJSON(w, http.StatusOK, trackNosAnswer{BindingID: id, TrackNos: nos})
	return nil
}

// deleteBinding ends a live binding at once (no SMS grace: the platform
// removed it), or ends the grace period of one whose calls expired.
func (s *server) deleteBinding(w http.ResponseWriter, r *http.Request) error {
	return s.withBinding(w, r, s.st.DeleteBinding, func(ctx context.Context, id string) (bindingView, error) {
		b, err := s.st.EndGrace(ctx, id)
		v := s.view(b)
		v.State = stateEnded
		return v, err
	})
}

// withBinding applies op to the live binding named in the path, or
// inGrace when there is none, and answers with the binding; an ID no
// binding can have is simply not found.
func (s *server) withBinding(w http.ResponseWriter, r *http.Request, op func(context.Context, string) (store.Binding, error),
	inGrace func(context.Context, string) (bindingView, error)) error {
	id := r.PathValue("id")
	if len(id) > maxBindingID {
		return notFound("binding")
	}
	b, err := op(r.Context(), id)
	v := s.view(b)
	if r.Method == http.MethodDelete {
		v.State = stateEnded
	}
	if errors.Is(err, store.ErrNotFound) {
		v, err = inGrace(r.Context(), id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound("binding")
	}
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		if v.TrackNos, err = s.st.TrackNos(r.Context(), id); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *server) listBindings(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalidField("query", "malformed query string")
	}
	var f store.Filter
	for name, values := range q {
		if len(values) != 1 {
			return invalidField(name, "given %d times", len(values))
		}
		v := values[0]
		switch name {
		case "x":
			f.X, err = s.storedNumber(name, v)
		case "party":
			f.Party, err = s.storedNumber(name, v)
		case fieldOrderID:
			err = checkOrderID(v)
			f.OrderID = v
		case "limit":
			f.Limit, err = strconv.Atoi(v)
			if err != nil || f.Limit < 1 || f.Limit > maxListLimit {
				err = invalidField(name, "must be an integer from 1 to %d", maxListLimit)
			}
		default:
			err = invalidField(name, "unknown query parameter")
		}
		if err != nil {
			return err
		}
	}
	bs, err := s.st.ListBindings(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bindingList{Bindings: s.views(bs)})
	return nil
}

// number reads a number the API is asked to store (a party, a pool
// number): libphonenumber must call it valid (number.Country.Validate), so a
// mistyped number is refused now rather than never matching a call. An
// empty optional field stays empty.
func (s *server) number(field, v string, required bool) (string, error) {
	if v == "" {
		if required {
			return "", invalidField(field, "required")
		}
		return "", nil
	}
	n, err := s.country.Validate(v)
	if err != nil {
		return "", invalidField(field, "%s", err.Error())
	}
	return n, nil
}

// storedNumber reads a number that names something already stored (a
// filter, the x of a pool): read as calls read it, without the validity
// check, so a number stored before the check is still found.
func (s *server) storedNumber(field, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	n, err := s.country.Normalize(v)
	if err != nil {
		return "", invalidField(field, "%s", err.Error())
	}
	return n, nil
}

func checkOrderID(id string) error {
	if len(id) > maxOrderID {
		return invalidField(fieldOrderID, "longer than %d bytes", maxOrderID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return invalidField(fieldOrderID, "only printable ASCII without spaces is allowed")
		}
	}
	return nil
}
