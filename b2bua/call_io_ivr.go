package b2bua

import (
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
)

// ivrSIP is ivrIO on the real legs and relay: the engine's answer, its
// prompts and tones (the pool's recordings, else the defaults), the digits
// A sends (RFC 4733 from the relay; SIP INFO reaches the call through
// onInDialog), the extension lookup and the B leg placed after it.
type ivrSIP struct {
	*sipIO
	prompts *ivr.Prompts
	pool    string
	route   routing.Call // the call as routing saw it, for RouteExtension
	maxfwd  int

	// Only the call's goroutine touches these.
	playing *media.Playback
	seq     uint32
	target  routing.Decision // where the extension lookup sends the call
}

// answerEngine answers A with the engine's SDP (its offer, when A's
// INVITE had none) and starts passing A's RFC 4733 keys to the call.
func (s *ivrSIP) answerEngine() (bool, error) {
	c := s.c
	offer := c.a.InviteRequest.Body()
	late := len(offer) == 0
	var sdp []byte
	var err error
	if late {
		sdp, err = c.media.OfferA()
	} else {
		sdp, err = c.media.Answer(offer)
	}
	if err != nil {
		code := sip.StatusNotAcceptableHere
		if errors.Is(err, media.ErrPortsExhausted) {
			code = sip.StatusServiceUnavailable
		}
		return false, &sipedge.StatusError{Code: code, Err: err}
	}
	c.sdpMu.Lock()
	c.sent[media.SideA] = sdp
	c.sdpMu.Unlock()
	s.send200(sdp, []sip.Header{sip.NewHeader("Content-Type", "application/sdp"), sip.NewHeader("Allow", sipedge.AllowedMethods)})
	digits := c.media.Digits()
	s.spawn(func() {
		for {
			select {
			case d := <-digits:
				c.post(event{kind: evDigit, digit: byte(d)})
			case <-c.stopped:
				return
			}
		}
	})
	return late, nil
}

func (s *ivrSIP) acceptA(sdp []byte) error {
	if len(sdp) == 0 {
		return errors.New("a's ack carries no sdp answer")
	}
	return s.c.media.AcceptA(sdp)
}

// play starts sound towards A; its end, if it plays to it, comes back as
// evPromptDone with its number.
func (s *ivrSIP) play(sound ivr.Prompt, loop bool) (uint32, error) {
	c := s.c
	snd, err := s.prompts.Sound(s.pool, sound)
	if err != nil {
		return 0, err
	}
	var opts []media.PlayOption
	if loop {
		opts = append(opts, media.Loop())
	}
	pb, err := c.media.Play(media.SideA, snd, opts...)
	if err != nil {
		return 0, err
	}
	s.seq++
	seq := s.seq
	s.playing = pb
	s.spawn(func() {
		select {
		case <-pb.Done():
			if pb.Completed() {
				c.post(event{kind: evPromptDone, seq: seq})
			}
		case <-c.stopped:
		}
	})
	return seq, nil
}

func (s *ivrSIP) stopPlay() {
	if s.playing != nil {
		s.playing.Stop()
		s.playing = nil
	}
}

// lookup asks routing where the digits go. An extension that is not there
// (or not there any more, or A's own) is "not found": the menu asks again.
func (s *ivrSIP) lookup(digits string) (bool, error) {
	ctx, cancel := s.e.storeContext()
	defer cancel()
	dec := s.e.router.RouteExtension(ctx, s.route, digits)
	switch {
	case dec.Action == routing.Bridge:
		if dec.Err != nil {
			s.c.log.Info().Err(dec.Err).Msg("caller not recorded for the callback")
		}
		s.target = dec
		return true, nil
	case dec.Code >= 500:
		return false, fmt.Errorf("extension lookup: %d %s: %w", dec.Code, dec.Reason, dec.Err)
	}
	s.c.log.Info().Int("code", dec.Code).Str("reason", dec.Reason).Msg("extension refused")
	return false, nil
}

// placeB calls the extension's party showing X, offering only the codec A
// negotiated; A keeps its relay port, so nothing is re-offered to A.
func (s *ivrSIP) placeB() error {
	c, dec := s.c, s.target
	offer, err := c.media.OfferB()
	if err != nil {
		return err
	}
	inv := s.e.edge.BLegInvite(dec.Display, dec.Callee, offer, s.maxfwd)
	s.e.calls.attachB(c, func() {
		c.b = sipedge.NewOutboundLeg(s.e.edge.Client(s.e.edge.TrunkTransport()), inv)
		c.bCallID = sipedge.CallID(inv)
		c.bindingID = dec.Binding.ID
		c.numbers[1] = dec.Callee
	})
	c.log = c.log.With().Str("binding_id", dec.Binding.ID).Str("b_call_id", c.bCallID).Logger()
	c.limit, c.warnBefore = callLimits(dec.Binding.Policy)
	c.bindingRecords = dec.Binding.Policy.Record
	c.pool, c.expires = dec.Binding.Pool, dec.Binding.ExpiresAt
	c.sdpMu.Lock()
	c.sent[media.SideB] = offer
	c.sdpMu.Unlock()
	// The binding may have ended between the lookup and now, before the
	// table filed the call under it to hear of that.
	if err := s.e.bindingLive(dec.Binding.ID); err != nil {
		return err
	}
	if err := s.startB(); err != nil {
		return err
	}
	c.recordStep(c.track.Routed(routeOf(dec), c.bCallID, s.now()))
	return nil
}

func (s *ivrSIP) earlyB(res *sip.Response) {
	if err := s.c.media.AcceptB(res.Body(), false); err != nil {
		s.c.log.Warn().Err(err).Int("status", res.StatusCode).Msg("dropping unusable early-media sdp")
	}
}

func (s *ivrSIP) acceptB(res *sip.Response) error {
	if len(res.Body()) == 0 {
		return errors.New("b answered without sdp")
	}
	if err := s.c.media.AcceptB(res.Body(), true); err != nil {
		return err
	}
	s.c.noteSDP(media.SideB)
	return nil
}

func (s *ivrSIP) detachB() {
	if err := s.c.media.DetachB(); err != nil {
		s.c.log.Debug().Err(err).Msg("detach b's media")
	}
}

// up is the bridge: from here the call is watched and recorded as any
// answered call.
func (s *ivrSIP) up() {
	c := s.c
	c.upSince.Store(c.answered.UnixNano())
	c.record()
	c.startRecording()
}

func (s *ivrSIP) armAt(k eventKind, at time.Time) { s.arm(k, at.Sub(s.e.now())) }

func (s *ivrSIP) now() time.Time { return s.e.now() }
