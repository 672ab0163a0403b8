package b2bua

import (
	"context"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/sipedge"
)

// callIO is everything the state machine does outside itself: to the legs,
// the relay and the clock. sipIO is the real one; the table test records the
// calls instead, so the state machine is tested without a socket.
//
// Methods that wait for a peer (final responses to A, CANCEL, BYE) run on
// goroutines of their own and report back as events, so the call keeps
// handling events meanwhile; wait waits for them.
type callIO interface {
	// startB sends B's INVITE.
	startB() error
	// relayProvisional passes B's 1xx to A.
	relayProvisional(res *sip.Response)
	// replyA sends A a final failure.
	replyA(code int)
	// answerA sends A the 200; evA2xxDone tells how it ended.
	answerA(body []byte, headers []sip.Header)
	// establishB records the dialog B's 2xx created; ackB acknowledges it.
	establishB(res *sip.Response)
	ackB(sdp []byte)
	// cancelB sends CANCEL for B's INVITE; abandonB gives the INVITE up.
	cancelB()
	abandonB()
	// bye sends BYE with reason to A and/or B; evLegsClosed follows.
	bye(toA, toB bool, reason sip.Header)
	// rewrite passes SDP from one side through the relay towards the other.
	rewrite(from media.Side, sdp []byte) ([]byte, error)
	// arm posts an event of kind k after d.
	arm(k eventKind, d time.Duration)
	// release frees what the call holds once it has ended.
	release(endedBy string)
	// wait waits for what is still in flight.
	wait()
}

// Bounds on what the call waits for from a peer.
const (
	byeTimeout    = 10 * time.Second
	cancelTimeout = 32 * time.Second
	startTimeout  = 32 * time.Second // connecting to a TCP trunk
)

// sipIO is callIO on the real legs.
type sipIO struct {
	c *call
	e *Engine

	inflight sync.WaitGroup
	timers   []*time.Timer // only the call's goroutine touches it
}

// startB sends B's INVITE; from here B's in-dialog requests can be told
// from a stranger's (dialog_match.go).
func (s *sipIO) startB() error {
	ctx, cancel := context.WithTimeout(s.e.ctx, startTimeout)
	defer cancel()
	s.c.bPeer.Store(bPeerCalling(s.c.b.Invite()))
	return s.c.b.Start(ctx)
}

// relayProvisional passes 180/183 to A, early-media SDP rewritten; SDP the
// relay cannot use is dropped, the ringing still relayed.
func (s *sipIO) relayProvisional(res *sip.Response) {
	c := s.c
	var body []byte
	var headers []sip.Header
	if sdp := res.Body(); len(sdp) > 0 {
		var err error
		if body, err = s.rewrite(media.SideB, sdp); err != nil {
			c.log.Warn().Err(err).Int("status", res.StatusCode).Msg("dropping unusable early-media sdp")
			body = nil
		} else {
			headers = append(headers, sip.NewHeader("Content-Type", "application/sdp"))
		}
	}
	if err := c.a.Respond(res.StatusCode, sipedge.ReasonPhrase(res.StatusCode), body, headers...); err != nil {
		c.log.Debug().Err(err).Msg("relay provisional")
	}
}

// replyA sends A's final failure. sipgo's Respond waits for A's ACK of it,
// so it runs on its own goroutine.
func (s *sipIO) replyA(code int) {
	c := s.c
	s.spawn(func() {
		if err := c.a.Respond(code, sipedge.ReasonPhrase(code), nil); err != nil {
			c.log.Debug().Err(err).Int("code", code).Msg("final response to a")
		}
		c.a.settle(false)
	})
}

// answerA sends the 200; sipgo's Respond retransmits it until A's ACK.
func (s *sipIO) answerA(body []byte, headers []sip.Header) {
	c := s.c
	c.upSince.Store(c.answered.UnixNano())
	c.record() // both dialogs exist from here on: a crash must not leave them open
	c.startRecording()
	s.send200(body, headers)
}

// send200 sends A the 200 and reports its end as evA2xxDone: acknowledged,
// or given up.
func (s *sipIO) send200(body []byte, headers []sip.Header) {
	c := s.c
	s.spawn(func() {
		err := c.a.Respond(sip.StatusOK, "OK", body, headers...)
		c.a.settle(true)
		c.post(event{kind: evA2xxDone, err: err})
	})
}

// establishB records B's dialog, and B's tag and peers for the requests B
// sends in it.
func (s *sipIO) establishB(res *sip.Response) {
	c := s.c
	c.b.Established(res)
	_, _, _, routes, _ := c.b.DialogState()
	if calling := c.bPeer.Load(); calling != nil {
		c.bPeer.Store(bPeerAnswered(calling, res, routes))
	}
}

func (s *sipIO) ackB(sdp []byte) {
	if err := s.c.b.Ack(sdp); err != nil {
		s.c.log.Warn().Err(err).Msg("ack b leg")
	}
}

// cancelB sends CANCEL; its 487 reaches the call as B's INVITE's answer.
func (s *sipIO) cancelB() {
	c := s.c
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.e.ctx), cancelTimeout)
		defer cancel()
		if err := c.b.Cancel(ctx); err != nil {
			c.log.Debug().Err(err).Msg("cancel b leg")
		}
	})
}

func (s *sipIO) abandonB() { s.c.b.Terminate() }

// bye sends the BYEs at once and reports when both are done. Teardown
// outlives the engine's context (shutdown ends every call with BYEs).
func (s *sipIO) bye(toA, toB bool, reason sip.Header) {
	c := s.c
	var headers []sip.Header
	if reason != nil {
		headers = append(headers, reason)
		c.byeReason = reason.Value()
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.e.ctx), byeTimeout)
		defer cancel()
		var wg sync.WaitGroup
		if toA {
			wg.Go(func() {
				if err := c.a.bye(ctx, s.e.edge, headers...); err != nil {
					c.log.Debug().Err(err).Msg("bye a leg")
				}
			})
		}
		if toB && c.b != nil {
			wg.Go(func() {
				if err := c.b.Bye(ctx, headers...); err != nil {
					c.log.Debug().Err(err).Msg("bye b leg")
				}
			})
		}
		wg.Wait()
		c.post(event{kind: evLegsClosed})
	})
}

// rewrite passes setup SDP through the relay. B's SDP in a response to an
// INVITE that carried an offer is the answer, and so is A's SDP in the ACK
// of a late offer: an answer takes no ports and may not add streams
// (RFC 3264 6), so B cannot make the call fail for lack of ports after it
// answered. Only B's SDP in a late offer's 2xx is an offer.
func (s *sipIO) rewrite(from media.Side, sdp []byte) ([]byte, error) {
	if from == media.SideA || !s.c.offerless {
		return s.c.rewriteAnswer(from, sdp)
	}
	return s.c.rewrite(from, sdp)
}

func (s *sipIO) arm(k eventKind, d time.Duration) {
	c := s.c
	s.timers = append(s.timers, time.AfterFunc(d, func() { c.post(event{kind: k}) }))
}

// release takes the call out of the table and frees its relay ports.
func (s *sipIO) release(endedBy string) {
	c := s.c
	for _, t := range s.timers {
		t.Stop()
	}
	c.upSince.Store(0)
	s.e.outcomes.count(c.released().Outcome)
	if !c.answered.IsZero() {
		s.e.stats.talk.observe(time.Since(c.answered))
	}
	c.stopRecording()
	c.forget()
	s.e.calls.remove(c)
	s.e.releaseAdmission()
	c.media.Close()
	ev := c.log.Info().Str("ended_by", endedBy).Dur("duration", time.Since(c.started))
	if !c.answered.IsZero() {
		ev = ev.Dur("talk", time.Since(c.answered))
	}
	ev.Interface("media", c.media.Stats()).Msg("call ended")
}

func (s *sipIO) wait() { s.inflight.Wait() }

func (s *sipIO) spawn(f func()) { s.inflight.Go(f) }
