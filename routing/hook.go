package routing

import (
	"context"
	"errors"
	"time"

	"github.com/xbridge/xbridge/store"
)

// Hook is a platform's routing hook: asked where a call to one of a
// pool's numbers goes when no binding answers it (Huawei's "X mode",
// Twilio's out-of-session callback). The routehook package asks over HTTP.
type Hook interface {
	Route(ctx context.Context, q HookQuery) (HookAnswer, error)
}

// HookQuery is what the hook is told: the pool's hook URL, the call's
// pool, X and caller.
type HookQuery struct {
	URL, Pool, X, Caller string
}

// HookAnswer is what the hook said: Action HookConnect with To (and
// optionally Display, MaxCallSeconds), or HookReject with Code.
type HookAnswer struct {
	Action         string
	To, Display    string
	MaxCallSeconds int
	Code           int
}

// Hook actions, and what the record says when the hook was not followed.
const (
	HookConnect = "connect"
	HookReject  = "reject"

	HookTimeout   = "timeout"    // no answer within the pool's hook timeout
	HookFailed    = "failed"     // no usable HTTP answer
	HookBadAnswer = "bad_answer" // an answer routing cannot follow
)

// defaultHookTimeout is the pool's hook timeout when it sets none.
const defaultHookTimeout = 800 * time.Millisecond

// WithHook asks h where calls go that no binding on a pool number answers,
// for the pools whose settings name a routing hook.
func WithHook(h Hook) Option { return func(r *Router) { r.hook = h } }

// askHook routes a call no binding answered by the pool's hook. ok false
// means the hook was not followed (d.Hook says why) and the pool's
// unknown-caller policy applies.
func (r *Router) askHook(ctx context.Context, d Decision, res store.Resolution) (Decision, bool) {
	h := res.Settings.RoutingHook
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = defaultHookTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ans, err := r.hook.Route(hctx, HookQuery{URL: h.URL, Pool: res.Pool, X: d.Dialled, Caller: d.Caller})
	switch {
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || hctx.Err() != nil):
		d.Hook, d.Err = HookTimeout, err
		return d, false
	case err != nil:
		d.Hook, d.Err = HookFailed, err
		return d, false
	}
	switch ans.Action {
	case HookReject:
		if ans.Code < 400 || ans.Code > 699 {
			d.Hook, d.Err = HookBadAnswer, errors.New("hook reject without a 4xx-6xx code")
			return d, false
		}
		d.Action, d.Code, d.Reason, d.Outcome, d.Hook = Reject, ans.Code, "refused by the routing hook", store.OutcomeRejected, HookReject
		return d, true
	case HookConnect:
		to, err := r.Normalize(ans.To)
		if err != nil || to == d.Caller || to == d.Dialled {
			d.Hook, d.Err = HookBadAnswer, errors.New("hook connect without a number to call")
			return d, false
		}
		display := d.Dialled
		if ans.Display != "" {
			if display, err = r.Normalize(ans.Display); err != nil {
				d.Hook, d.Err = HookBadAnswer, errors.New("hook display is not a number")
				return d, false
			}
		}
		if ans.MaxCallSeconds < 0 {
			d.Hook, d.Err = HookBadAnswer, errors.New("hook max_call_seconds is negative")
			return d, false
		}
		d.Action, d.Code, d.Reason, d.Outcome, d.Err, d.Hook = Bridge, 0, "connected by the routing hook", "", nil, HookConnect
		d.Callee, d.Display, d.Pool = to, display, res.Pool
		// No binding: the call carries the hook's limit as its policy.
		d.Binding = store.Binding{Pool: res.Pool, X: d.Dialled, Policy: store.Policy{MaxCallSeconds: ans.MaxCallSeconds}}
		return d, true
	}
	d.Hook, d.Err = HookBadAnswer, errors.New("hook action is neither connect nor reject")
	return d, false
}
