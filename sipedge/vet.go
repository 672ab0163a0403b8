package sipedge

import (
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Requests sipgo parses but that no SIP element could act on (two Call-IDs,
// a CSeq naming another method, SIP/7.0) are refused here, before any
// handler runs, and counted in MalformedStats.Refused. Nothing of a call, the
// store or the relay is touched.

// vetted runs the checks every request must pass before h may act on it.
// A refused request gets its response here; an ACK, which takes none, is
// dropped.
func (e *Edge) vetted(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		v := vetRequest(req)
		if v.code == 0 {
			h(req, tx)
			return
		}
		e.malformed.refused.Add(1)
		e.log.Info().Str("call_id", CallID(req)).Str("method", string(req.Method)).Str("source", req.Source()).
			Int("code", v.code).Str("reason", v.reason).Msg("request refused")
		if req.IsAck() {
			return
		}
		res := sip.NewResponseFromRequest(req, v.code, v.reason, nil)
		res.SipVersion = "SIP/2.0" // not the SIP/7.0 a 505 refuses
		for _, hdr := range v.headers {
			res.AppendHeader(hdr)
		}
		if err := tx.Respond(res); err != nil {
			e.log.Debug().Err(err).Str("call_id", CallID(req)).Int("code", v.code).Msg("respond")
		}
	}
}

// onNotAllowed answers a method the engine knows but does not serve
// (REGISTER, SUBSCRIBE, ...); unknown methods got 501 in vetted.
func (e *Edge) onNotAllowed(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, ReasonPhrase(sip.StatusMethodNotAllowed), nil)
	res.AppendHeader(sip.NewHeader("Allow", AllowedMethods))
	if err := tx.Respond(res); err != nil {
		e.log.Debug().Err(err).Str("call_id", CallID(req)).Msg("respond 405")
	}
}

// verdict is why a request is refused: code 0 lets it through.
type verdict struct {
	code    int
	reason  string
	headers []sip.Header
}

func refuse(code int, reason string, headers ...sip.Header) verdict {
	return verdict{code: code, reason: reason, headers: headers}
}

// The header fields RFC 3261 requires once in every request (Via aside,
// which may repeat), and those that may appear at most once.
var (
	mandatoryFields = []string{"call-id", "from", "to", "cseq"}
	singleFields    = []string{"call-id", "from", "to", "cseq", "max-forwards", "content-length", "content-type"}
)

// vetRequest checks what sipgo's parser leaves to the application: the
// protocol version, mandatory and single-valued header fields, Max-Forwards
// range, method and CSeq, Request-URI scheme, Require, and for a new INVITE
// whether its body and Accept are something the engine can answer. The order
// follows RFC 3261 8.2 and the answers RFC 4475 expects.
func vetRequest(req *sip.Request) verdict {
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return refuse(sip.StatusVersionNotSupported, ReasonPhrase(sip.StatusVersionNotSupported))
	}
	if req.Via() == nil {
		return refuse(sip.StatusBadRequest, "Missing Via")
	}
	// One pass, names compared without lowering them: lowering allocates
	// for every header name sipgo does not know by heart.
	var (
		counts          [7]int
		require, accept []sip.Header
	)
	for _, h := range req.Headers() {
		name := h.Name()
		for i, f := range singleFields {
			if strings.EqualFold(name, f) {
				counts[i]++
				break
			}
		}
		switch {
		case strings.EqualFold(name, "Require"):
			require = append(require, h)
		case strings.EqualFold(name, "Accept"):
			accept = append(accept, h)
		}
	}
	for i, f := range singleFields {
		switch {
		case counts[i] == 0 && i < len(mandatoryFields):
			return refuse(sip.StatusBadRequest, "Missing "+fieldTitle(f))
		case counts[i] > 1:
			return refuse(sip.StatusBadRequest, "Multiple "+fieldTitle(f)+" values")
		}
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() > 255 {
		return refuse(sip.StatusBadRequest, "Bad Max-Forwards")
	}
	if !knownMethod(req.Method) {
		return refuse(sip.StatusNotImplemented, ReasonPhrase(sip.StatusNotImplemented), sip.NewHeader("Allow", AllowedMethods))
	}
	if !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)) {
		return refuse(sip.StatusBadRequest, "CSeq method does not match request method")
	}
	if !knownScheme(req.Recipient.Scheme) {
		return refuse(StatusUnsupportedURIScheme, ReasonPhrase(StatusUnsupportedURIScheme))
	}
	if !req.IsAck() && !req.IsCancel() {
		if tags := optionTags(require); tags != "" {
			return refuse(sip.StatusBadExtension, ReasonPhrase(sip.StatusBadExtension), sip.NewHeader("Unsupported", tags))
		}
	}
	if req.IsInvite() && !req.To().Params.Has("tag") {
		return vetOffer(req, accept)
	}
	return verdict{}
}

// vetOffer checks a new INVITE's body and Accept: the engine answers with
// SDP and relays only SDP (multipart is left to the offer handling).
func vetOffer(req *sip.Request, accept []sip.Header) verdict {
	if len(req.Body()) > 0 {
		ct := req.ContentType()
		if ct == nil {
			return refuse(sip.StatusBadRequest, "Missing Content-Type")
		}
		switch mt := MediaType(ct.Value()); {
		case mt == "application/sdp", strings.HasPrefix(mt, "multipart/"):
		default:
			return refuse(sip.StatusUnsupportedMediaType, ReasonPhrase(sip.StatusUnsupportedMediaType), sip.NewHeader("Accept", "application/sdp"))
		}
	}
	if len(accept) > 0 && !acceptsSDP(accept) {
		return refuse(sip.StatusNotAcceptable, ReasonPhrase(sip.StatusNotAcceptable), sip.NewHeader("Accept", "application/sdp"))
	}
	return verdict{}
}

func acceptsSDP(accept []sip.Header) bool {
	for _, h := range accept {
		for r := range strings.SplitSeq(h.Value(), ",") {
			switch MediaType(r) {
			case "application/sdp", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

// optionTags joins the option tags of Require header fields; the engine
// supports none (no 100rel, no session timers).
func optionTags(require []sip.Header) string {
	var tags []string
	for _, h := range require {
		for t := range strings.SplitSeq(h.Value(), ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return strings.Join(tags, ", ")
}

func knownMethod(m sip.RequestMethod) bool {
	switch m {
	case sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.OPTIONS, sip.REGISTER, sip.SUBSCRIBE,
		sip.NOTIFY, sip.REFER, sip.INFO, sip.MESSAGE, sip.PRACK, sip.UPDATE, sip.PUBLISH:
		return true
	}
	return false
}

func fieldTitle(lower string) string {
	switch lower {
	case "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	}
	b := []byte(lower)
	for i := range b {
		if i == 0 || b[i-1] == '-' {
			b[i] = b[i] - 'a' + 'A'
		}
	}
	return string(b)
}

// NewCallForwards checks what a new INVITE needs, beyond vetting, before a
// call can start on it: a Contact to reach A inside the dialog, and
// Max-Forwards to spare for the B leg. It returns the Max-Forwards the B leg
// carries. Such an INVITE is well-formed, so the handler refuses it with the
// *StatusError returned here; it is not counted as malformed input.
func NewCallForwards(req *sip.Request) (int, error) {
	if req.Contact() == nil || req.CSeq() == nil || req.From() == nil || req.To() == nil {
		return 0, &StatusError{Code: sip.StatusBadRequest, Reason: "Missing Contact, CSeq, From or To"}
	}
	maxfwd := 70
	if mf := req.MaxForwards(); mf != nil {
		maxfwd = int(mf.Val())
	}
	if maxfwd <= 1 {
		return 0, &StatusError{Code: sip.StatusTooManyHops}
	}
	return maxfwd - 1, nil
}
