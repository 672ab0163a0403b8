package routing

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/xbridge/xbridge/store"
)

// MessageLookup is what routing an SMS reads of the store: bindings live
// or in their SMS grace period, and who reached an AXE's A. store.Store
// has it.
type MessageLookup interface {
	ResolveMessage(ctx context.Context, x, sender string) (store.MessageResolution, error)
	MessageExtension(ctx context.Context, x, ext string) (store.MessageResolution, error)
}

// Message is what routing is told about an SMS (a SIP MESSAGE to X).
type Message struct {
	Sender   string // user part of From, or a tel: URI
	Asserted string // as Call.Asserted: believed only from a trusted source
	Dialled  string // user part of the Request-URI (X)
	Source   netip.Addr
	// Text is the start of the body when it is text (text/*), where a
	// courier who never called may write the extension; "" otherwise.
	Text string
}

// Roles of a party in a call or SMS: A or B of the binding, or N, anyone
// else (an AXN's or AXE's callers).
const (
	RoleA = "A"
	RoleB = "B"
	RoleN = "N"
)

// MessageDecision is routing's answer for an SMS: deliver it to Receiver
// from X, or refuse it with Code.
type MessageDecision struct {
	Deliver bool
	Code    int
	Reason  string // for logs and the reason phrase; never names a party
	Outcome string // store.Outcome* for a refusal

	Binding store.Binding
	// Pool is the binding's pool, or X's when no binding decided.
	Pool string
	// Grace: the binding's calls have expired and its SMS grace lasts.
	Grace    bool
	Settings store.PoolSettings // the binding's pool's (or X's)

	Sender, X, Receiver      string // normalised
	SenderRole, ReceiverRole string
	// NoteSender: the sender reached the binding's A, so A's next SMS to X
	// (and, for an AXE, the sender's next one without an extension) goes
	// back to the sender (store.Messages.NoteSender).
	NoteSender bool

	Err error // behind a refusal, for logs
}

// MessageRouter decides SMS from the bindings in a store. It is safe for
// concurrent use.
type MessageRouter struct {
	r  *Router
	st MessageLookup
}

// NewMessageRouter routes SMS with st. The options are the Router's: the
// country numbers are read in, the trust domain, the clock.
func NewMessageRouter(st MessageLookup, opts ...Option) *MessageRouter {
	return &MessageRouter{r: NewRouter(nil, opts...), st: st}
}

// Route decides an SMS. The rules are a call's (route_models.go), with the
// differences SMS need: a binding in its grace period still relays; an
// AXN's or AXE's A texting X reaches whoever last reached A through X
// (within the pool's callback window), an AXN's A with a B reaches B; an
// AXE sender who never called is routed by the extension at the start of
// the text.
func (mr *MessageRouter) Route(ctx context.Context, m Message) MessageDecision {
	d, user, ok := mr.r.start(Call{Caller: m.Sender, Asserted: m.Asserted, Dialled: m.Dialled, Source: m.Source})
	md := MessageDecision{Sender: d.Caller}
	if !ok {
		return refusal(md, d)
	}
	if d, ok = mr.r.dialled(d, user); !ok {
		return refusal(md, d)
	}
	md.X = d.Dialled
	res, err := mr.st.ResolveMessage(ctx, md.X, md.Sender)
	md.Pool = res.Pool
	switch {
	case errors.Is(err, store.ErrNotFound):
		md.Code, md.Reason, md.Outcome = 404, "no binding for this sender on the number", store.OutcomeNoBinding
		return md
	case errors.Is(err, store.ErrEnded):
		md.Code, md.Reason, md.Outcome = 480, "binding ended", store.OutcomeExpired
		return md
	case err != nil:
		return refusal(md, mr.r.storeFailed(ctx, d, err))
	}
	if res.Match == store.MatchExtensions {
		ext := leadingExtension(m.Text, res.Settings.ExtensionLength)
		if ext == "" {
			md.Code, md.Reason, md.Outcome = 404, "no extension for this sender", store.OutcomeExtensionNotFound
			return md
		}
		if res, err = mr.st.MessageExtension(ctx, md.X, ext); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				md.Code, md.Reason, md.Outcome = 404, "extension not found", store.OutcomeExtensionNotFound
				return md
			}
			return refusal(md, mr.r.storeFailed(ctx, d, err))
		}
		if res.Binding.A == md.Sender {
			md.Code, md.Reason, md.Outcome = 403, "the extension's own party texted it", store.OutcomeDirection
			return md
		}
		res.Match = store.MatchReached
	}
	return mr.resolved(md, res)
}

// resolved decides an SMS the store resolved to a binding.
func (mr *MessageRouter) resolved(md MessageDecision, res store.MessageResolution) MessageDecision {
	b := res.Binding
	md.Binding, md.Pool, md.Grace, md.Settings = b, b.Pool, res.Grace, res.Settings
	now := mr.r.now()
	if res.Grace && !now.Before(res.GraceUntil) {
		md.Code, md.Reason, md.Outcome = 480, "binding's sms grace period ended", store.OutcomeExpired
		return md
	}
	if b.X != md.X {
		md.Code, md.Reason, md.Outcome = 500, "binding does not match the message", store.OutcomeStoreFailure
		md.Err = errors.New("store returned a binding on another number")
		return md
	}
	// Past ExpiresAt but not yet swept into its grace: relayed like one in
	// grace (the sweep follows within its interval).
	md.Grace = md.Grace || b.Expired(now)
	reply := func() MessageDecision {
		window := res.Settings.CallbackWindow
		if window <= 0 {
			window = defaultCallbackWindow
		}
		if res.LastSender == "" || now.Sub(res.LastSenderAt) > window {
			md.Code, md.Reason, md.Outcome = 404, "nobody to reply to", store.OutcomeNoCallback
			return md
		}
		return deliver(md, res.LastSender, RoleA, RoleN, false)
	}
	switch res.Match {
	case store.MatchAnyCaller, store.MatchReached:
		if md.Sender == b.A {
			return reply()
		}
		return deliver(md, b.A, RoleN, RoleA, true)
	case store.MatchPair:
	default:
		md.Code, md.Reason, md.Outcome = 500, "binding lookup failed", store.OutcomeStoreFailure
		md.Err = errors.New("store resolved a message without a match")
		return md
	}
	switch b.Model {
	case store.ModelAXB, "":
		to := b.Counterpart(md.Sender)
		switch {
		case to == "":
			md.Code, md.Reason, md.Outcome = 500, "binding does not match the message", store.OutcomeStoreFailure
			md.Err = errors.New("store returned a binding without this sender")
			return md
		case refused(b.Policy.Direction, md.Sender == b.A):
			md.Code, md.Reason, md.Outcome = 403, "direction not allowed by the binding", store.OutcomeDirection
			return md
		case md.Sender == b.A:
			return deliver(md, to, RoleA, RoleB, false)
		}
		return deliver(md, to, RoleB, RoleA, false)
	case store.ModelAXN:
		switch md.Sender {
		case b.A:
			if b.B != "" {
				return deliver(md, b.B, RoleA, RoleB, false)
			}
			return reply()
		case b.B:
			return deliver(md, b.A, RoleB, RoleA, false)
		}
	case store.ModelAXE:
		if md.Sender == b.A {
			return reply()
		}
	}
	md.Code, md.Reason, md.Outcome = 500, "binding does not match the message", store.OutcomeStoreFailure
	md.Err = errors.New("store returned a binding without this sender")
	return md
}

func deliver(md MessageDecision, to, senderRole, receiverRole string, note bool) MessageDecision {
	md.Deliver, md.Code, md.Reason, md.Outcome = true, 0, "deliver", ""
	md.Receiver, md.SenderRole, md.ReceiverRole, md.NoteSender = to, senderRole, receiverRole, note
	return md
}

// refusal carries a call decision's refusal over to an SMS.
func refusal(md MessageDecision, d Decision) MessageDecision {
	md.Code, md.Reason, md.Outcome, md.Err = d.Code, d.Reason, d.Outcome, d.Err
	if md.X == "" {
		md.X = d.Dialled
	}
	return md
}

// leadingExtension reads an extension of n digits (the pool's length) at
// the start of text: "1234 取件码 5678", "1234:...", "#1234 ...". A longer
// run of digits is not an extension (it may be the pickup code itself).
func leadingExtension(text string, n int) string {
	if n <= 0 {
		n = defaultExtensionLength
	}
	text = strings.TrimLeft(text, " \t\r\n#*")
	i := 0
	for i < len(text) && text[i] >= '0' && text[i] <= '9' {
		i++
	}
	if i != n {
		return ""
	}
	return text[:i]
}

// Now is the router's clock, for the SMS relay's own times.
func (mr *MessageRouter) Now() time.Time { return mr.r.now() }
