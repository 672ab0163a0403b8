package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/xbridge/xbridge/store"
)

// PoolSettingsDoc is a pool's settings as the API (PUT /v1/pools/{pool})
// and the --pools config file write them: durations in whole seconds, a
// missing field meaning the default.
type PoolSettingsDoc struct {
	ExtensionLength       int               `json:"extension_length,omitempty"`
	QuarantineSeconds     *int64            `json:"quarantine_seconds,omitempty"`
	UnknownCaller         *UnknownCallerDoc `json:"unknown_caller,omitempty"`
	Expiry                *ExpiryDoc        `json:"expiry,omitempty"`
	CallbackWindowSeconds int64             `json:"callback_window_seconds,omitempty"`
	AllowRealDisplay      bool              `json:"allow_real_display,omitempty"`
	Prompts               map[string]string `json:"prompts,omitempty"`
	SMS                   *SMSDoc           `json:"sms,omitempty"`
	RoutingHook           *RoutingHookDoc   `json:"routing_hook,omitempty"`
	RecordCalls           bool              `json:"record_calls,omitempty"`
	RecordNotice          bool              `json:"record_notice,omitempty"`
}

// RoutingHookDoc is where the pool asks about calls no binding answers,
// and how long it waits (default 800 ms).
type RoutingHookDoc struct {
	URL       string `json:"url"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
}

// SMSDoc is the pool's SMS relay policy: the grace period after a
// binding expires (default the engine's --sms-grace), how long delivery
// is retried (default 24 h), and whether events carry the text.
type SMSDoc struct {
	GraceSeconds *int64 `json:"grace_seconds,omitempty"`
	RetrySeconds int64  `json:"retry_seconds,omitempty"`
	KeepBodies   bool   `json:"keep_bodies,omitempty"`
}

// UnknownCallerDoc is the unknown-caller policy: "reject" with a SIP code,
// or "announce" with a prompt.
type UnknownCallerDoc struct {
	Action string `json:"action,omitempty"`
	Code   int    `json:"code,omitempty"`
	Prompt string `json:"prompt,omitempty"`
}

// ExpiryDoc is the expiry policy: "teardown" (with warn_seconds) or "finish".
type ExpiryDoc struct {
	Mode        string `json:"mode,omitempty"`
	WarnSeconds int    `json:"warn_seconds,omitempty"`
}

// maxSettingSeconds bounds the durations before they become nanoseconds;
// the store applies its own, tighter bound.
const maxSettingSeconds = int64(10 * 365 * 24 * 3600)

// DecodePoolSettings reads one settings object, refusing unknown fields,
// and checks it as the store would. The error is an *apiError naming the
// field (its Error() says which), so the config loader can print it.
func DecodePoolSettings(data []byte) (store.PoolSettings, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc PoolSettingsDoc
	if err := dec.Decode(&doc); err != nil {
		return store.PoolSettings{}, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return store.PoolSettings{}, invalidJSON(http.StatusBadRequest, "unexpected data after the JSON object")
	}
	return doc.settings()
}

// settings converts the document and validates the result.
func (d PoolSettingsDoc) settings() (store.PoolSettings, error) {
	s := store.PoolSettings{
		ExtensionLength:  d.ExtensionLength,
		AllowRealDisplay: d.AllowRealDisplay,
		RecordCalls:      d.RecordCalls,
		RecordNotice:     d.RecordNotice,
	}
	if len(d.Prompts) > 0 {
		s.Prompts = d.Prompts // an empty object is no overrides, like none
	}
	if q := d.QuarantineSeconds; q != nil {
		if *q < 0 || *q > maxSettingSeconds {
			return store.PoolSettings{}, invalidField("quarantine_seconds", "must be 0 to %d, not %d", maxSettingSeconds, *q)
		}
		dur := time.Duration(*q) * time.Second
		s.Quarantine = &dur
	}
	if w := d.CallbackWindowSeconds; w < 0 || w > maxSettingSeconds {
		return store.PoolSettings{}, invalidField("callback_window_seconds", "must be 0 to %d, not %d", maxSettingSeconds, w)
	}
	s.CallbackWindow = time.Duration(d.CallbackWindowSeconds) * time.Second
	if u := d.UnknownCaller; u != nil {
		s.UnknownCaller = store.UnknownCaller{Action: store.UnknownCallerAction(u.Action), Code: u.Code, Prompt: u.Prompt}
	}
	if e := d.Expiry; e != nil {
		s.Expiry = store.ExpiryPolicy{Mode: store.ExpiryMode(e.Mode), WarnSeconds: e.WarnSeconds}
	}
	if m := d.SMS; m != nil {
		if g := m.GraceSeconds; g != nil {
			if *g < 0 || *g > maxSettingSeconds {
				return store.PoolSettings{}, invalidField("sms.grace_seconds", "must be 0 to %d, not %d", maxSettingSeconds, *g)
			}
			dur := time.Duration(*g) * time.Second
			s.SMS.Grace = &dur
		}
		if r := m.RetrySeconds; r < 0 || r > maxSettingSeconds {
			return store.PoolSettings{}, invalidField("sms.retry_seconds", "must be 0 to %d, not %d", maxSettingSeconds, r)
		}
		s.SMS.Retry = time.Duration(m.RetrySeconds) * time.Second
		s.SMS.KeepBodies = m.KeepBodies
	}
	if h := d.RoutingHook; h != nil {
		if h.TimeoutMS < 0 || h.TimeoutMS > maxSettingSeconds {
			return store.PoolSettings{}, invalidField("routing_hook.timeout_ms", "must be 0 to 10000, not %d", h.TimeoutMS)
		}
		s.RoutingHook = store.RoutingHook{URL: h.URL, Timeout: time.Duration(h.TimeoutMS) * time.Millisecond}
	}
	if err := s.Validate(); err != nil {
		return store.PoolSettings{}, settingError(err)
	}
	return s, nil
}

// settingError turns the store's *SettingError into a 400 naming the field
// as the API spells it.
func settingError(err error) error {
	var se *store.SettingError
	if !errors.As(err, &se) {
		return err
	}
	field := se.Field
	switch field {
	case "quarantine":
		field = "quarantine_seconds"
	case "callback_window":
		field = "callback_window_seconds"
	case "sms.grace":
		field = "sms.grace_seconds"
	case "sms.retry":
		field = "sms.retry_seconds"
	case "routing_hook.timeout":
		field = "routing_hook.timeout_ms"
	}
	return invalidField(field, "%s", se.Reason)
}

// settingsDoc writes effective settings (defaults filled) as the API shows them.
func settingsDoc(s store.PoolSettings) PoolSettingsDoc {
	d := PoolSettingsDoc{
		ExtensionLength:       s.ExtensionLength,
		UnknownCaller:         &UnknownCallerDoc{Action: string(s.UnknownCaller.Action), Code: s.UnknownCaller.Code, Prompt: s.UnknownCaller.Prompt},
		Expiry:                &ExpiryDoc{Mode: string(s.Expiry.Mode), WarnSeconds: s.Expiry.WarnSeconds},
		CallbackWindowSeconds: int64(s.CallbackWindow / time.Second),
		AllowRealDisplay:      s.AllowRealDisplay,
		Prompts:               s.Prompts,
		RecordCalls:           s.RecordCalls,
		RecordNotice:          s.RecordNotice,
	}
	if s.Quarantine != nil {
		q := int64(*s.Quarantine / time.Second)
		d.QuarantineSeconds = &q
	}
	d.SMS = &SMSDoc{RetrySeconds: int64(s.SMS.Retry / time.Second), KeepBodies: s.SMS.KeepBodies}
	if s.RoutingHook.URL != "" {
		d.RoutingHook = &RoutingHookDoc{URL: s.RoutingHook.URL, TimeoutMS: s.RoutingHook.Timeout.Milliseconds()}
	}
	if s.SMS.Grace != nil {
		g := int64(*s.SMS.Grace / time.Second)
		d.SMS.GraceSeconds = &g
	}
	return d
}

// putPool sets a pool's settings, whole: a field left out is the default.
func (s *server) putPool(w http.ResponseWriter, r *http.Request) error {
	pool := r.PathValue("pool")
	if err := checkPoolName(pool); err != nil {
		return err
	}
	var doc PoolSettingsDoc
	if err := decodeJSON(w, r, &doc); err != nil {
		return err
	}
	set, err := doc.settings()
	if err != nil {
		return err
	}
	if s.prompts == nil {
		if err := s.st.SetPoolSettings(r.Context(), pool, set); err != nil {
			return settingError(err)
		}
	} else if err := s.setWithPrompts(r.Context(), pool, set); err != nil {
		return err
	}
	got, err := s.st.PoolSettings(r.Context(), pool)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsDoc(got))
	return nil
}

// PromptSetter is where a pool's own prompts play from: the engine's
// ivr.Prompts. SetPool replaces a pool's recordings (name to WAV file), and
// changes nothing if any cannot be used.
type PromptSetter interface {
	SetPool(pool string, files map[string]string) error
}

// WithPrompts makes PUT /v1/pools/{pool} load the pool's prompts into p
// before it stores them: a file that cannot be played is a 400 naming
// "prompts", and nothing is stored or changed; the calls that start after
// the 200 play the new recordings.
func WithPrompts(p PromptSetter) Option { return func(s *server) { s.prompts = p } }

// setWithPrompts loads set's prompts, then stores set; if the store fails
// the pool's previous prompts are loaded back, so what plays is what is
// stored.
func (s *server) setWithPrompts(ctx context.Context, pool string, set store.PoolSettings) error {
	// The store validates too, but only after the recordings are loaded:
	// a request bad in any other field must not change what plays.
	if err := set.Validate(); err != nil {
		return settingError(err)
	}
	prev, err := s.st.PoolSettings(ctx, pool)
	if err != nil {
		return err
	}
	if err := s.prompts.SetPool(pool, set.Prompts); err != nil {
		return invalidField("prompts", "%v", err)
	}
	if err := s.st.SetPoolSettings(ctx, pool, set); err != nil {
		if rerr := s.prompts.SetPool(pool, prev.Prompts); rerr != nil {
			s.log.Error().Err(rerr).Str("pool", pool).Msg("pool prompts not restored after a failed store write")
		}
		return settingError(err)
	}
	return nil
}
