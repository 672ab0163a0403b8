package b2bua

import (
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
)

// WithPrompts lets the engine answer calls itself: the courier's call to
// an AXE number (prompt, extension, then the extension's party) and
// announcements. Without prompts such calls are refused (480, or the
// announcement's code).
func WithPrompts(p *ivr.Prompts) Option { return func(e *Engine) { e.prompts = p } }

// WithMenu sets the extension menu's timeouts and tries (ivr.DefaultConfig
// where zero); the extension length is the pool's.
func WithMenu(cfg ivr.Config) Option { return func(e *Engine) { e.menu = cfg } }

// answerByEngine serves a new INVITE the engine answers itself: routing
// said Collect (an extension is to be keyed) or Announce. Like onInvite it
// runs the call on the INVITE handler's goroutine, and reports whether the
// call table took the call (and its admission slot); refuse gives the slot
// back before a refusal goes out.
func (e *Engine) answerByEngine(req *sip.Request, tx sip.ServerTransaction, dec routing.Decision, rc routing.Call, maxfwd int, log zerolog.Logger, refuse func(), track *events.Call) (taken bool) {
	aSess := e.acceptALeg(req, tx, log, refuse)
	if aSess == nil {
		return false
	}
	track.SetRoute(routeOf(dec))
	sess := e.relay.NewSession(log)
	c := &call{
		e:             e,
		aCallID:       sipedge.CallID(req),
		bindingID:     dec.Binding.ID,
		a:             newInboundLeg(aSess),
		media:         sess,
		answerTimeout: e.cfg.AnswerTimeout,
		started:       time.Now(),
		x:             dec.Dialled,
		numbers:       [2]string{dec.Caller, ""},
		events:        make(chan event, callEvents),
		stopped:       make(chan struct{}),
		log:           log,
	}
	sio := &sipIO{c: c, e: e}
	c.io = sio
	c.track = track
	if dec.Action == routing.Announce {
		// Answered to be told no: the record says why, as a refusal's does.
		c.noteEnd(events.ByEngine, dec.Outcome, dec.Code)
	}
	// The extension is looked up on X as routing read it: the dialled
	// number may have carried digits (a mistyped extension) after it.
	rc.Dialled, rc.DialledParams = dec.Dialled, nil
	c.ivr = &ivrSIP{sipIO: sio, prompts: e.prompts, pool: dec.Pool, route: rc, maxfwd: maxfwd}
	menu := e.menu
	menu.ExtensionLength = dec.ExtensionLength
	c.menu = ivr.NewMenu(menu)
	if !e.calls.add(c) {
		sess.Close()
		return false
	}
	first := event{kind: evCollect, dialled: dec.Extension}
	if dec.Action == routing.Announce {
		first = event{kind: evAnnounce, prompt: announcement(dec.Prompt)}
	}
	c.run(first)
	return true
}

// announcement is the prompt routing's Announce names.
func announcement(name string) ivr.Prompt {
	switch name {
	case routing.PromptNoCallback:
		return ivr.PromptNoCallback
	case routing.PromptUnknownNumber:
		return ivr.PromptUnknownNumber
	}
	return ivr.Prompt(name)
}

// engineAnswers serves an in-dialog request of A's while the engine is its
// other end: an INFO carrying a key goes to the call's menu; an INFO with
// another body is refused, saying which bodies the engine reads; a session
// refresh (UPDATE without SDP) is answered.
func (e *Engine) engineAnswers(c *call, req *sip.Request, tx sip.ServerTransaction) {
	if req.Method != sip.INFO {
		e.edge.Reply(req, tx, sip.StatusOK, "")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	digit, err := ivr.DigitFromInfo(ct, req.Body())
	switch {
	case errors.Is(err, ivr.ErrNotDigits):
		e.edge.Reply(req, tx, sip.StatusUnsupportedMediaType, "", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	case err != nil:
		c.log.Info().Err(err).Msg("info key press unreadable")
		e.edge.Reply(req, tx, sip.StatusBadRequest, "")
		return
	}
	// The key is the call's before its 200 goes: a courier's phone sends
	// the next INFO only once this one is answered, and sipgo hands each
	// request to its own goroutine, so a key posted after the 200 can
	// reach the menu behind the next one (1234 heard as 1243).
	c.post(event{kind: evDigit, digit: digit})
	e.edge.Reply(req, tx, sip.StatusOK, "")
}
