package routing

import (
	"context"
	"errors"
	"time"

	"github.com/xbridge/xbridge/store"
)

// defaultCallbackWindow is how long an AXE's A can call back its last
// caller when the pool does not say (store.PoolSettings.CallbackWindow).
const defaultCallbackWindow = 24 * time.Hour

// defaultExtensionLength is the digits collected when the pool does not say.
const defaultExtensionLength = 4

// resolved decides a call the store resolved, by model:
//   - AXB: the counterpart, if the binding's direction lets the caller call;
//   - AXN: its A reaches B (404 with none), anyone else reaches A;
//   - AXE: its A calls back the last caller within the pool's window
//     (else Announce), anyone else keys an extension (Collect).
func (r *Router) resolved(d Decision, res store.Resolution) Decision {
	switch res.Match {
	case store.MatchExtensions:
		d.Action, d.Code, d.Reason, d.Outcome = Collect, 0, "collect extension", ""
		d.Pool, d.ExtensionLength = res.Pool, res.Settings.ExtensionLength
		if d.ExtensionLength == 0 {
			d.ExtensionLength = defaultExtensionLength
		}
		return d
	case store.MatchPair, store.MatchAnyCaller:
	default:
		d.Code, d.Reason, d.Outcome, d.Err = 500, "binding lookup failed", store.OutcomeStoreFailure, errors.New("store resolved a call without a match")
		return d
	}
	b := res.Binding
	d.Binding = b
	if b.Expired(r.now()) {
		d.Code, d.Reason, d.Outcome = 480, "binding expired", store.OutcomeExpired
		return d
	}
	if b.X != d.Dialled || res.Match == store.MatchAnyCaller && b.Model != store.ModelAXN {
		return mismatch(d)
	}
	if res.Match == store.MatchAnyCaller {
		return bridge(d, b.A)
	}
	switch b.Model {
	case store.ModelAXB, "":
		callee := b.Counterpart(d.Caller)
		if callee == "" {
			return mismatch(d)
		}
		if refused(b.Policy.Direction, d.Caller == b.A) {
			d.Code, d.Reason, d.Outcome = 403, "call direction not allowed by the binding", store.OutcomeDirection
			return d
		}
		return bridge(d, callee)
	case store.ModelAXN:
		switch d.Caller {
		case b.A:
			if b.B == "" {
				d.Code, d.Reason, d.Outcome = 404, "binding has no one for this caller to reach", store.OutcomeNoBinding
				return d
			}
			return bridge(d, b.B)
		case b.B:
			return bridge(d, b.A)
		}
	case store.ModelAXE:
		if d.Caller == b.A {
			return r.callback(d, res)
		}
	}
	return mismatch(d)
}

// refused reports whether direction forbids the call (fromA: the caller is
// the binding's A).
func refused(direction store.Direction, fromA bool) bool {
	switch direction {
	case store.DirectionAToB:
		return !fromA
	case store.DirectionBToA:
		return fromA
	}
	return false
}

// callback routes an AXE's A calling X to the last caller who reached A
// through the extension, while the pool's callback window lasts.
func (r *Router) callback(d Decision, res store.Resolution) Decision {
	window := res.Settings.CallbackWindow
	if window <= 0 {
		window = defaultCallbackWindow
	}
	if res.LastCaller == "" || r.now().Sub(res.LastCallerAt) > window {
		d.Action, d.Code, d.Reason, d.Outcome, d.Prompt = Announce, 404, "nobody to call back", store.OutcomeNoCallback, PromptNoCallback
		return d
	}
	return bridge(d, res.LastCaller)
}

// dialledExtension routes an extension dialled with X. One that is not
// found on an X with extensions (a mistyped digit on the parcel) is not a
// dead end: the engine answers and asks for it again, as if it had been
// keyed wrong (Collect with the dialled digits in Extension).
func (r *Router) dialledExtension(ctx context.Context, d Decision, ext string) Decision {
	got := r.extension(ctx, d, ext)
	if got.Action != Reject || got.Code != 404 && got.Code != 484 {
		return got
	}
	res, err := r.st.Resolve(ctx, d.Dialled, d.Caller)
	if err != nil || res.Match != store.MatchExtensions {
		return got
	}
	d = r.resolved(d, res)
	d.Extension = ext
	return d
}

// extension routes a caller who keyed (or dialled) an extension on X to the
// AXE binding's A, and records the caller for A's callback.
func (r *Router) extension(ctx context.Context, d Decision, ext string) Decision {
	if !isDigitString(ext) || len(ext) > maxExtensionDigits {
		d.Code, d.Reason, d.Outcome = 484, "extension invalid", store.OutcomeExtensionNotFound
		return d
	}
	b, err := r.st.LookupExtension(ctx, d.Dialled, ext)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrEnded):
		d.Code, d.Reason, d.Outcome = 404, "extension not found", store.OutcomeExtensionNotFound
		return d
	case err != nil:
		return r.storeFailed(ctx, d, err)
	}
	d.Binding = b
	switch {
	case b.Expired(r.now()):
		d.Code, d.Reason, d.Outcome = 480, "binding expired", store.OutcomeExpired
		return d
	case b.X != d.Dialled || b.Model != store.ModelAXE || b.Extension != ext:
		return mismatch(d)
	case d.Caller == b.A:
		d.Code, d.Reason, d.Outcome = 403, "the extension's own party called it", store.OutcomeDirection
		return d
	}
	d = bridge(d, b.A)
	// The call goes on without it: the callback is a convenience.
	d.Err = r.noteCaller(ctx, b.ID, d.Caller, r.now())
	return d
}

// bridge completes d as a Bridge to callee, shown X unless the binding's
// policy shows the caller's own number (which the store allows only where
// the pool's operator does).
func bridge(d Decision, callee string) Decision {
	d.Action, d.Code, d.Reason, d.Outcome, d.Err = Bridge, 0, "bridge", "", nil
	d.Callee, d.Display = callee, d.Dialled
	if d.Binding.Policy.CallerDisplay == store.DisplayReal {
		d.Display = d.Caller
	}
	return d
}

func mismatch(d Decision) Decision {
	d.Action, d.Code, d.Reason, d.Outcome = Reject, 500, "binding does not match the call", store.OutcomeStoreFailure
	d.Err = errors.New("store returned a binding without this caller or number")
	return d
}

// unknownCaller applies a pool's policy to a call on one of its numbers
// that no binding answers: a reject with the pool's status (404 by
// default), or an announcement (answer, prompt, hang up) whose Code an
// engine that cannot answer sends instead.
func unknownCaller(d Decision, p store.UnknownCaller) Decision {
	if p.Code != 0 {
		d.Code = p.Code
	}
	if p.Action == store.UnknownAnnounce {
		d.Action, d.Prompt = Announce, PromptUnknownNumber
		if p.Prompt != "" {
			d.Prompt = p.Prompt
		}
	}
	return d
}

// noteTimeout bounds a caller note written in the background.
const noteTimeout = 10 * time.Second

// noteCaller records who reached an AXE's A, for the callback. The note
// is a durable write (an fsync), so by default it is made in the
// background: the INVITE to A must not wait for the disk. Failures go to
// WithNoteFailures. WithInlineNotes writes it before returning, its error
// in the decision.
func (r *Router) noteCaller(ctx context.Context, id, caller string, at time.Time) error {
	if r.inlineNotes {
		return r.st.NoteCaller(ctx, id, caller, at)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noteTimeout)
		defer cancel()
		if err := r.st.NoteCaller(ctx, id, caller, at); err != nil && r.noteFailed != nil {
			r.noteFailed(id, err)
		}
	}()
	return nil
}
