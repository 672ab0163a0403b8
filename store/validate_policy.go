package store

import (
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"
)

// FieldError is an ErrInvalid that names the request field at fault, so
// the API can answer 400 naming it.
type FieldError struct {
	Field  string // as the API names it: "extension", "warn_seconds"...
	Reason string
}

func (e *FieldError) Error() string {
	return "store: " + e.Field + ": " + e.Reason + ": " + ErrInvalid.Error()
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Limits of the binding models and policies.
const (
	maxExtension   = 6
	maxUserData    = 2 << 10
	maxCallSeconds = 7 * 24 * 3600 // a week: far beyond any call, within int32
)

// checkModel checks what depends on the model: B is required for AXB,
// optional for AXN and absent for AXE; only an AXE has an extension; then
// the policy.
func checkModel(nb NewBinding) error {
	m := modelOf(nb)
	switch m {
	case ModelAXB:
		if err := checkNumber("b", nb.B, minParty, maxParty); err != nil {
			return err
		}
	case ModelAXN:
		if nb.B != "" {
			if err := checkNumber("b", nb.B, minParty, maxParty); err != nil {
				return err
			}
		}
	case ModelAXE:
		if nb.B != "" {
			return fieldf("b", "not part of an AXE binding")
		}
	default:
		return fieldf("model", "%q is not one of AXB, AXN, AXE", nb.Model)
	}
	if nb.B != "" && nb.A == nb.B {
		return fieldf("b", "a and b are the same number %q", nb.A)
	}
	if nb.Extension != "" {
		if m != ModelAXE {
			return fieldf("extension", "only AXE bindings have one")
		}
		if err := checkExtension(nb.Extension); err != nil {
			return err
		}
	}
	switch nb.AreaMatch {
	case "", AreaStrict, AreaLoose:
	default:
		return fieldf("area_match", "%q is not one of strict, loose", nb.AreaMatch)
	}
	return checkPolicy(m, nb.Policy)
}

func checkExtension(ext string) error {
	if ext == "" || len(ext) > maxExtension || !isDigits(ext) {
		return fieldf("extension", "%q must be 1 to %d digits", ext, maxExtension)
	}
	return nil
}

// checkPolicy checks a policy on its own; checkInPool what the pool allows.
func checkPolicy(m Model, p Policy) error {
	switch p.Direction {
	case "", DirectionBoth:
	case DirectionAToB, DirectionBToA:
		if m != ModelAXB {
			return fieldf("direction", "%q applies to AXB bindings only", p.Direction)
		}
	default:
		return fieldf("direction", "%q is not one of both, a_to_b, b_to_a", p.Direction)
	}
	switch {
	case p.MaxCallSeconds < 0 || p.MaxCallSeconds > maxCallSeconds:
		return fieldf("max_call_seconds", "%d is not within 0 to %d", p.MaxCallSeconds, maxCallSeconds)
	case p.WarnSeconds < 0:
		return fieldf("warn_seconds", "%d is negative", p.WarnSeconds)
	case p.WarnSeconds > 0 && p.MaxCallSeconds == 0:
		return fieldf("warn_seconds", "needs max_call_seconds")
	case p.WarnSeconds > 0 && p.WarnSeconds >= p.MaxCallSeconds:
		return fieldf("warn_seconds", "%d must be less than max_call_seconds %d", p.WarnSeconds, p.MaxCallSeconds)
	}
	switch p.CallerDisplay {
	case "", DisplayX, DisplayReal:
	default:
		return fieldf("caller_display", "%q is not one of x, real", p.CallerDisplay)
	}
	if g := p.SMSGraceSeconds; g < NoSMSGrace || g > int(maxSettingDuration/time.Second) {
		return fieldf("sms_grace_seconds", "%d is not within %d (none) to %d", g, NoSMSGrace, int(maxSettingDuration/time.Second))
	}
	if p.Webhook != "" {
		if u, err := url.Parse(p.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(p.Webhook) > maxWebhookURL {
			return fieldf("webhook_url", "must be an absolute http or https URL of at most %d bytes", maxWebhookURL)
		}
	}
	if len(p.UserData) > maxUserData {
		return fieldf("user_data", "longer than %d bytes", maxUserData)
	}
	if !utf8.ValidString(p.UserData) {
		return fieldf("user_data", "not valid UTF-8")
	}
	return nil
}

// checkInPool checks what the pool's settings decide: the extension length
// and whether a callee may be shown the caller's own number.
func checkInPool(m Model, ext string, p Policy, s PoolSettings) error {
	if n := extensionLength(s); m == ModelAXE && ext != "" && len(ext) != n {
		return fieldf("extension", "%q must have %d digits in this pool", ext, n)
	}
	if p.CallerDisplay == DisplayReal && !s.AllowRealDisplay {
		return fieldf("caller_display", "real is not allowed in this pool")
	}
	return nil
}

func extensionLength(s PoolSettings) int {
	if s.ExtensionLength == 0 {
		return defaultExtensionLength
	}
	return s.ExtensionLength
}
