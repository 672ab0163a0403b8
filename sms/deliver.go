package sms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// Run delivers queued messages until ctx ends, then waits for the
// attempts under way: each one ends within sendTimeout, and one cut short
// by ctx is left due and sent again after a restart (delivery is at least
// once: a phone may see an SMS twice, never none).
func (r *Relay) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, r.concurrency)
	for {
		now := r.now()
		due, next, err := r.st.DueMessages(ctx, now, 2*r.concurrency)
		if err != nil && ctx.Err() == nil {
			r.log.Error().Err(err).Msg("sms queue unreadable")
		}
	start:
		for _, m := range due {
			if !r.claim(m.ID) {
				continue
			}
			select {
			case slots <- struct{}{}:
			default:
				r.release(m.ID)
				break start // every slot busy: a finished one kicks
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.deliver(ctx, m)
				r.release(m.ID)
				<-slots
				r.kick()
			}()
		}
		wait := pollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(now), time.Millisecond))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-r.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (r *Relay) claim(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[id] {
		return false
	}
	r.inflight[id] = true
	return true
}

func (r *Relay) release(id string) {
	r.mu.Lock()
	delete(r.inflight, id)
	r.mu.Unlock()
}

// deliver makes one attempt at m and records what came of it.
func (r *Relay) deliver(ctx context.Context, m store.Message) {
	log := r.log.With().Str("message_id", m.ID).Str("binding_id", m.BindingID).Logger()
	req := r.edge.OutMessage(outCallID(m.ID), uint32(m.Attempts+1), m.X, m.Receiver, m.ContentType, m.Body)
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	res, err := r.edge.SendRequest(sctx, req)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the message stays due
	}
	m.Attempts++
	status := 0
	if res != nil {
		status = res.StatusCode
	}
	at := r.now()
	// The store calls below must not be cut short by a stop that comes
	// now: the attempt happened.
	sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	switch {
	case err == nil && status >= 200 && status < 300:
		v := events.MessageViewOf(m)
		v.Status = status
		r.finish(sctx, m, events.TypeSMSDelivered, v, at, log)
		r.stats.delivered.Add(1)
		log.Debug().Int("attempts", m.Attempts).Msg("sms delivered")
		return
	case err != nil || retryable(status):
		why := attemptError(status, err)
		next := at.Add(r.backoff(m.Attempts))
		if next.Before(m.GiveUpAt) {
			if err := r.st.RescheduleMessage(sctx, m.ID, m.Attempts, next, why); err != nil {
				log.Error().Err(err).Msg("sms not rescheduled")
				return
			}
			r.stats.retried.Add(1)
			log.Info().Int("attempts", m.Attempts).Str("error", why).Time("next", next).Msg("sms attempt failed, will retry")
			return
		}
		v := events.MessageViewOf(m)
		v.Status, v.Reason = status, fmt.Sprintf("gave up after %d attempts: %s", m.Attempts, why)
		r.finish(sctx, m, events.TypeSMSFailed, v, at, log)
	default:
		v := events.MessageViewOf(m)
		v.Status, v.Reason = status, "refused: "+attemptError(status, nil)
		r.finish(sctx, m, events.TypeSMSFailed, v, at, log)
	}
	r.stats.failed.Add(1)
	log.Info().Int("attempts", m.Attempts).Int("status", status).Msg("sms failed")
}

// outCallID is the Call-ID of every attempt at the message id: derived
// from the engine's own ID (which names no party), so a retry is
// recognisably the same SMS at the receiving side.
func outCallID(id string) string {
	sum := sha256.Sum256([]byte("xbridge-sms:" + id))
	return hex.EncodeToString(sum[:16])
}

// finish removes m from the queue with its last event.
func (r *Relay) finish(ctx context.Context, m store.Message, typ string, v events.MessageView, at time.Time, log zerolog.Logger) {
	evs, err := r.eventsOf(typ, v, m.Webhook, at)
	if err == nil {
		outcome := store.InboxFailed
		if typ == events.TypeSMSDelivered {
			outcome = store.InboxDelivered
		}
		err = r.st.FinishMessage(ctx, m.ID, outcome, evs)
	}
	if err != nil {
		// It stays due and is tried again: a duplicate rather than a loss.
		log.Error().Err(err).Str("event", typ).Msg("sms outcome not recorded")
	}
}

// retryable reports whether a refusal may pass: the phone is off or out
// of reach (408, 480), or the trunk is in trouble (5xx). Anything else
// (404, 403, 603...) is the network's final word.
func retryable(status int) bool {
	return status == sip.StatusRequestTimeout || status == sip.StatusTemporarilyUnavailable || status >= 500 && status < 600
}

func attemptError(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d %s", status, sipedge.ReasonPhrase(status))
}

// backoff is the wait after the attempts-th failure: retryMin doubling to
// retryMax, with up to a quarter of jitter either way, so messages that
// failed together do not come back together.
func (r *Relay) backoff(attempts int) time.Duration {
	d := r.retryMin
	for i := 1; i < attempts && d < r.retryMax; i++ {
		d *= 2
	}
	d = min(d, r.retryMax)
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return max(d+jitter, time.Millisecond)
}
