package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults and limits of PoolSettings; DefaultPoolSettings gives the
// defaults.
const (
	defaultExtensionLength = 4
	defaultUnknownCode     = 404
	defaultCallbackWindow  = 24 * time.Hour
	defaultSMSRetry        = 24 * time.Hour

	minExtensionLength = 1
	maxExtensionLength = 6
	// maxSettingDuration bounds the quarantine and the callback window: a
	// year and a month, like the longest binding the API allows.
	maxSettingDuration = 400 * 24 * time.Hour
	maxWarnSeconds     = 3600
	maxPrompts         = 32
	maxPromptName      = 64
	maxPromptPath      = 1024
)

// SettingError is a PoolSettings field the store refuses. It is ErrInvalid
// (errors.Is) and names the field by its JSON path, e.g. "unknown_caller.code".
type SettingError struct {
	Field  string
	Reason string
}

func (e *SettingError) Error() string {
	return "store: pool setting " + e.Field + ": " + e.Reason + ": " + ErrInvalid.Error()
}

// Is makes a SettingError match ErrInvalid.
func (e *SettingError) Is(target error) bool { return target == ErrInvalid }

func settingErr(field, format string, args ...any) error {
	return &SettingError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// DefaultPoolSettings are the settings of a pool nobody configured. The
// quarantine is nil: the store's (WithQuarantine, --quarantine).
func DefaultPoolSettings() PoolSettings {
	return PoolSettings{
		ExtensionLength: defaultExtensionLength,
		UnknownCaller:   UnknownCaller{Action: UnknownReject, Code: defaultUnknownCode},
		Expiry:          ExpiryPolicy{Mode: ExpiryTeardown},
		CallbackWindow:  defaultCallbackWindow,
		SMS:             SMSPolicy{Retry: defaultSMSRetry},
	}
}

// WithDefaults returns s with every zero field set to its default (the
// quarantine stays nil when unset: only the store knows its own).
func (s PoolSettings) WithDefaults() PoolSettings {
	d := DefaultPoolSettings()
	if s.ExtensionLength == 0 {
		s.ExtensionLength = d.ExtensionLength
	}
	if s.UnknownCaller.Action == "" {
		s.UnknownCaller.Action = d.UnknownCaller.Action
	}
	if s.UnknownCaller.Action == UnknownReject && s.UnknownCaller.Code == 0 {
		s.UnknownCaller.Code = d.UnknownCaller.Code
	}
	if s.Expiry.Mode == "" {
		s.Expiry.Mode = d.Expiry.Mode
	}
	if s.CallbackWindow == 0 {
		s.CallbackWindow = d.CallbackWindow
	}
	if s.SMS.Retry == 0 {
		s.SMS.Retry = d.SMS.Retry
	}
	return s
}

// Validate checks s field by field; the first bad field is a *SettingError.
func (s PoolSettings) Validate() error {
	if n := s.ExtensionLength; n != 0 && (n < minExtensionLength || n > maxExtensionLength) {
		return settingErr("extension_length", "must be %d to %d digits, not %d", minExtensionLength, maxExtensionLength, n)
	}
	if q := s.Quarantine; q != nil && (*q < 0 || *q > maxSettingDuration) {
		return settingErr("quarantine", "must be 0 to %v, not %v", maxSettingDuration, *q)
	}
	u := s.UnknownCaller
	switch u.Action {
	case "", UnknownReject:
		if u.Code != 0 && (u.Code < 400 || u.Code > 699) {
			return settingErr("unknown_caller.code", "must be a SIP final failure status 400 to 699, not %d", u.Code)
		}
		if u.Prompt != "" {
			return settingErr("unknown_caller.prompt", "only an announce plays a prompt")
		}
	case UnknownAnnounce:
		if u.Code != 0 {
			return settingErr("unknown_caller.code", "an announce answers the call; a code is for reject")
		}
		if err := checkPromptName("unknown_caller.prompt", u.Prompt, true); err != nil {
			return err
		}
	default:
		return settingErr("unknown_caller.action", "must be %q or %q, not %q", UnknownReject, UnknownAnnounce, u.Action)
	}
	e := s.Expiry
	switch e.Mode {
	case "", ExpiryTeardown:
		if e.WarnSeconds < 0 || e.WarnSeconds > maxWarnSeconds {
			return settingErr("expiry.warn_seconds", "must be 0 to %d, not %d", maxWarnSeconds, e.WarnSeconds)
		}
	case ExpiryFinish:
		if e.WarnSeconds != 0 {
			return settingErr("expiry.warn_seconds", "only a teardown warns")
		}
	default:
		return settingErr("expiry.mode", "must be %q or %q, not %q", ExpiryTeardown, ExpiryFinish, e.Mode)
	}
	if w := s.CallbackWindow; w < 0 || w > maxSettingDuration {
		return settingErr("callback_window", "must be 0 to %v, not %v", maxSettingDuration, w)
	}
	if g := s.SMS.Grace; g != nil && (*g < 0 || *g > maxSettingDuration) {
		return settingErr("sms.grace", "must be 0 to %v, not %v", maxSettingDuration, *g)
	}
	if r := s.SMS.Retry; r < 0 || r > maxSettingDuration {
		return settingErr("sms.retry", "must be 0 to %v, not %v", maxSettingDuration, r)
	}
	if h := s.RoutingHook; h.URL != "" || h.Timeout != 0 {
		if err := checkHookURL(h.URL); err != nil {
			return err
		}
		if h.Timeout < 0 || h.Timeout > maxHookTimeout {
			return settingErr("routing_hook.timeout", "must be 0 to %v, not %v", maxHookTimeout, h.Timeout)
		}
	}
	if len(s.Prompts) > maxPrompts {
		return settingErr("prompts", "at most %d prompts, not %d", maxPrompts, len(s.Prompts))
	}
	for name, path := range s.Prompts {
		if err := checkPromptName("prompts", name, false); err != nil {
			return err
		}
		if path == "" || len(path) > maxPromptPath {
			return settingErr("prompts."+name, "must be a file path of 1 to %d bytes", maxPromptPath)
		}
	}
	return nil
}

// maxHookTimeout bounds a routing hook's wait: the caller hears nothing
// meanwhile.
const maxHookTimeout = 10 * time.Second

// checkHookURL allows an absolute http or https URL of at most 1 KiB.
func checkHookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > 1024 {
		return settingErr("routing_hook.url", "must be an absolute http or https URL of at most 1024 bytes")
	}
	return nil
}

// checkPromptName allows [a-z0-9_-]: names end up in file names and logs.
func checkPromptName(field, name string, optional bool) error {
	if name == "" {
		if optional {
			return nil
		}
		return settingErr(field, "a prompt name must not be empty")
	}
	if len(name) > maxPromptName {
		return settingErr(field, "prompt name longer than %d bytes", maxPromptName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return settingErr(field, "prompt name %q may hold only a-z, 0-9, '_' and '-'", name)
		}
	}
	return nil
}

// poolSettings reads pool's settings in a transaction, defaults filled in
// (Quarantine stays nil unless set: see quarantineOf). An unknown pool, or
// an entry that does not decode (check reports it), has the defaults.
func (bk buckets) poolSettings(pool string) PoolSettings {
	var s PoolSettings
	if bk.settings != nil {
		if v := bk.settings.Get([]byte(pool)); v != nil && json.Unmarshal(v, &s) != nil {
			s = PoolSettings{}
		}
	}
	return s.WithDefaults()
}

// smsGraceOf is the SMS grace period of a pool with settings s.
func (db *DB) smsGraceOf(s PoolSettings) time.Duration {
	if s.SMS.Grace != nil {
		return *s.SMS.Grace
	}
	return db.opts.smsGrace
}

// quarantineOf is the cool-down a pool with settings s gives released pairs.
func (db *DB) quarantineOf(s PoolSettings) time.Duration {
	if s.Quarantine != nil {
		return *s.Quarantine
	}
	return db.opts.quarantine
}

// PoolSettings implements Pools.
func (db *DB) PoolSettings(ctx context.Context, pool string) (PoolSettings, error) {
	if err := ctx.Err(); err != nil {
		return PoolSettings{}, fmt.Errorf("store: pool settings: %w", err)
	}
	if err := checkPoolName(pool); err != nil {
		return PoolSettings{}, err
	}
	var s PoolSettings
	err := db.bolt.View(func(tx *bolt.Tx) error {
		s = bucketsOf(tx).poolSettings(pool)
		return nil
	})
	if err != nil {
		return PoolSettings{}, fmt.Errorf("store: pool %q settings: %w", pool, err)
	}
	q := db.quarantineOf(s)
	s.Quarantine = &q
	g := db.smsGraceOf(s)
	s.SMS.Grace = &g
	return s, nil
}

// SetPoolSettings implements Pools. The settings are stored as given (zero
// fields stay zero), so a later change of a default reaches every pool that
// did not choose its own.
func (db *DB) SetPoolSettings(ctx context.Context, pool string, s PoolSettings) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: set pool settings: %w", err)
	}
	if err := checkPoolName(pool); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: pool %q settings: %w", pool, err)
	}
	err = db.write(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		if bk.pools.Get([]byte(pool)) == nil {
			if err := bk.putPoolStats(pool, poolStats{}); err != nil {
				return err
			}
		}
		return bk.settings.Put([]byte(pool), v)
	})
	if err != nil {
		return fmt.Errorf("store: pool %q settings: %w", pool, err)
	}
	db.log.Info().Str("pool", pool).RawJSON("settings", v).Msg("pool settings set")
	return nil
}

// PoolPrompts implements Pools.
func (db *DB) PoolPrompts(ctx context.Context) (map[string]map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: pool prompts: %w", err)
	}
	out := map[string]map[string]string{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPoolSettings).ForEach(func(k, v []byte) error {
			var s PoolSettings
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("pool %q settings: %w", k, err)
			}
			if len(s.Prompts) > 0 {
				out[string(k)] = s.Prompts
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: pool prompts: %w", err)
	}
	return out, nil
}
