package b2bua

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/store"
)

// The call watch makes every answered call end: one engine ticker looks at
// the call table and ends (BYE on both legs, with a Reason) a call whose
// media from either party has been silent past its timeout, or that has
// lasted past the maximum duration. No timer runs per call or per packet:
// the relay stamps when media last arrived, the tick compares.

// Reasons the watch gives in its BYEs (RFC 3326).
const (
	reasonMediaTimeout = `SIP;cause=408;text="media timeout"`
	reasonMaxDuration  = `SIP;cause=408;text="max call duration"`
	// reasonCallLimit ends a call at its binding's max_call_seconds: the
	// platform's limit, reached as agreed, so a normal clearing (Q.850 16)
	// rather than a failure.
	reasonCallLimit = `Q.850;cause=16;text="binding call limit"`
)

// DefaultWatchTick is how often the call watch looks at the call table when
// every limit is 10 s or longer: a limit is noticed at most one tick late.
const DefaultWatchTick = time.Second

// minWatchTick bounds the tick from below, whatever the limits.
const minWatchTick = 10 * time.Millisecond

// watchOptions are the watch's test knobs (see WithWatchTick, WithClock).
type watchOptions struct {
	tick time.Duration
	now  func() time.Time
}

// WithWatchTick sets how often the call watch runs (default: a tenth of the
// shortest limit, at most DefaultWatchTick).
func WithWatchTick(d time.Duration) Option { return func(e *Engine) { e.watch.tick = d } }

// WithClock replaces time.Now for the call watch.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.watch.now = now } }

func (e *Engine) now() time.Time {
	if e.watch.now != nil {
		return e.watch.now()
	}
	return time.Now()
}

// checkWatch refuses limits that cannot be meant: negative ones, or a hold
// timeout shorter than the timeout of a call that is not on hold.
func (c Config) checkWatch() error {
	switch {
	case c.RTPTimeout < 0 || c.RTPHoldTimeout < 0 || c.MaxCallDuration < 0:
		return fmt.Errorf("b2bua: rtp timeout, rtp hold timeout and max call duration must not be negative")
	case c.RTPHoldTimeout != 0 && c.RTPHoldTimeout < c.RTPTimeout:
		return fmt.Errorf("b2bua: rtp hold timeout %v is shorter than the rtp timeout %v", c.RTPHoldTimeout, c.RTPTimeout)
	}
	return nil
}

// watchPolicy is the limits one tick applies; 0 disables a limit.
type watchPolicy struct {
	rtp, hold, max time.Duration
}

func (e *Engine) watchPolicy() watchPolicy {
	return watchPolicy{rtp: e.cfg.RTPTimeout, hold: e.cfg.RTPHoldTimeout, max: e.cfg.MaxCallDuration}
}

// tick is the default tick: a tenth of the shortest limit, so that a
// limit is overrun by at most a tenth, within [minWatchTick,
// DefaultWatchTick].
func (p watchPolicy) tick() time.Duration {
	tick := DefaultWatchTick
	for _, d := range [...]time.Duration{p.rtp, p.hold, p.max} {
		if d > 0 && d/10 < tick {
			tick = d / 10
		}
	}
	return max(tick, minWatchTick)
}

// watchedCall is what one tick knows of an answered call.
type watchedCall struct {
	answered time.Time
	// limit is the binding's max_call_seconds (0: none); warn how long
	// before it both parties hear the warning tone (0: no tone).
	limit, warn time.Duration
	// pool and expires are the binding's: the pool's expiry policy may
	// warn before the binding expires.
	pool    string
	expires time.Time
	held    bool         // no stream carries media both ways
	changed time.Time    // when held last changed
	heard   [2]time.Time // last media from each side (zero: none yet)
}

// verdict says whether the call must end at now, and with what Reason. A
// side's silence counts from its last packet, but never from before the
// answer or the last hold or resume: a party that was rightly silent starts
// afresh.
func (p watchPolicy) verdict(now time.Time, w watchedCall) (reason string, silent media.Side, end bool) {
	talk := now.Sub(w.answered)
	if w.limit > 0 && talk >= w.limit && (p.max <= 0 || w.limit <= p.max) {
		return reasonCallLimit, 0, true
	}
	if p.max > 0 && talk >= p.max {
		return reasonMaxDuration, 0, true
	}
	limit := p.rtp
	if w.held {
		limit = p.hold
	}
	if limit <= 0 {
		return "", 0, false
	}
	for _, side := range [...]media.Side{media.SideA, media.SideB} {
		since := latest(w.heard[side], w.answered, w.changed)
		if now.Sub(since) >= limit {
			return reasonMediaTimeout, side, true
		}
	}
	return "", 0, false
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// callWatch is a call's part in the watch.
type callWatch struct {
	mu      sync.Mutex
	dirs    [2][]media.Direction // of the latest SDP from each side; nil: none yet
	held    bool
	changed time.Time

	fired        atomic.Bool // the watch has ended the call; later ticks skip it
	warned       atomic.Bool // the warning tone before the binding's limit has played
	expiryWarned atomic.Bool // the warning tone before the binding's expiry has played

	// The call's record in the store (call_persist.go), under recMu.
	recMu     sync.Mutex
	recorded  bool
	forgotten bool
}

// noteSDP follows an SDP a side sent (offer or answer) once the relay has
// taken it: its direction attributes, as the relay read them, say whether
// the call is on hold.
func (c *call) noteSDP(from media.Side) {
	dirs := c.media.Directions(from)
	now := c.e.now()
	w := &c.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dirs[from] = dirs
	if held := onHold(w.dirs); held != w.held {
		w.held, w.changed = held, now
		c.log.Debug().Bool("held", held).Msg("call hold state changed")
	}
}

// onHold reports whether no stream carries media both ways. Who is expected
// to send follows from both SDPs: on stream i, A sends when A's SDP says it
// sends and B's says B receives, and the other way round; a call where no
// stream flows both ways (a=sendonly answered by a=recvonly, a=inactive,
// c=0.0.0.0, a rejected stream) is on hold, and then both parties, the one
// playing music on hold included, may fall silent. A side with no SDP yet
// is taken to send and receive.
func onHold(dirs [2][]media.Direction) bool {
	if dirs[0] == nil && dirs[1] == nil {
		return false
	}
	n := max(len(dirs[0]), len(dirs[1]))
	at := func(side, i int) media.Direction {
		switch {
		case dirs[side] == nil:
			return media.DirSendRecv
		case i < len(dirs[side]):
			return dirs[side][i]
		}
		return media.DirInactive
	}
	for i := range n {
		if at(0, i) == media.DirSendRecv && at(1, i) == media.DirSendRecv {
			return false
		}
	}
	return true
}

// lastPacketFrom is when media from side last reached the relay from the
// source it latched on (packets from strangers do not count, so an intruder
// cannot keep a dead call up).
func (c *call) lastPacketFrom(side media.Side) time.Time {
	return c.media.LastPacketFrom(side)
}

// watched is the call as the tick sees it; false for a call not answered
// yet, already ending, or already ended by the watch.
func (c *call) watched(now time.Time) (watchedCall, bool) {
	if c.watch.fired.Load() {
		return watchedCall{}, false
	}
	up := c.upSince.Load()
	if up == 0 {
		return watchedCall{}, false
	}
	answered := time.Unix(0, up)
	// limit and warn are written before upSince (the answer), and read
	// after it.
	w := watchedCall{answered: answered, limit: c.limit, warn: c.warnBefore, pool: c.pool, expires: c.expires}
	c.watch.mu.Lock()
	w.held, w.changed = c.watch.held, c.watch.changed
	c.watch.mu.Unlock()
	for _, side := range [...]media.Side{media.SideA, media.SideB} {
		w.heard[side] = c.lastPacketFrom(side)
	}
	return w, true
}

// startWatch runs the call watch until ctx ends; the returned function
// waits for it to stop. It runs with every engine limit off too: a
// binding's own max_call_seconds still needs it.
func (e *Engine) startWatch(ctx context.Context) (wait func()) {
	p := e.watchPolicy()
	tick := e.watch.tick
	if tick <= 0 {
		tick = p.tick()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.checkCalls(p, e.now())
			}
		}
	}()
	return func() { <-done }
}

// callLimits are a binding's max_call_seconds and warn_seconds as the
// watch reads them; a warning as long as the limit or longer plays at
// the answer.
func callLimits(p store.Policy) (limit, warn time.Duration) {
	limit = time.Duration(p.MaxCallSeconds) * time.Second
	if limit > 0 {
		warn = min(time.Duration(p.WarnSeconds)*time.Second, limit)
	}
	return limit, warn
}

// warns reports whether the warning tone before the binding's limit is
// due at now.
func (w watchedCall) warns(now time.Time) bool {
	return w.limit > 0 && w.warn > 0 && now.Sub(w.answered) >= w.limit-w.warn
}

// warnParties plays the warning tone to both parties in place of each
// other's audio, for the tone's second: the call is about to reach its
// limit.
func (e *Engine) warnParties(c *call, w watchedCall) {
	c.log.Info().Dur("left", w.warn).Msg("call limit near: warning both parties")
	e.playWarning(c)
}

// playWarning plays the warning tone to both parties in place of each
// other's audio.
func (e *Engine) playWarning(c *call) {
	for _, side := range [...]media.Side{media.SideA, media.SideB} {
		if _, err := c.media.Play(side, e.warnTone, media.Replace()); err != nil {
			c.log.Debug().Err(err).Stringer("side", side).Msg("warning tone not played")
		}
	}
}

// expiryWarnHorizon is how close to its binding's expiry a call must be
// for the watch to read its pool's expiry policy: the longest warning a
// pool may set (store: an hour).
const expiryWarnHorizon = time.Hour

// expiryWarns reports whether the warning before the binding's expiry is
// due at now under policy.
func (w watchedCall) expiryWarns(now time.Time, policy store.ExpiryPolicy) bool {
	if w.expires.IsZero() || policy.Mode == store.ExpiryFinish || policy.WarnSeconds <= 0 {
		return false
	}
	return !now.Before(w.expires.Add(-time.Duration(policy.WarnSeconds) * time.Second))
}

// checkCalls is one tick over the call table. The pools' expiry policies
// are read at most once a tick each, and only for calls within an hour of
// their binding's expiry.
func (e *Engine) checkCalls(p watchPolicy, now time.Time) {
	var policies map[string]store.ExpiryPolicy
	for _, c := range e.calls.all() {
		w, ok := c.watched(now)
		if !ok {
			continue
		}
		if w.warns(now) && c.watch.warned.CompareAndSwap(false, true) {
			e.warnParties(c, w)
		}
		if !w.expires.IsZero() && now.After(w.expires.Add(-expiryWarnHorizon)) && !c.watch.expiryWarned.Load() {
			if policies == nil {
				policies = map[string]store.ExpiryPolicy{}
			}
			policy, ok := policies[w.pool]
			if !ok {
				policy = e.expiryPolicy(w.pool)
				policies[w.pool] = policy
			}
			if w.expiryWarns(now, policy) && c.watch.expiryWarned.CompareAndSwap(false, true) {
				c.log.Info().Time("expires", w.expires).Msg("binding expiry near: warning both parties")
				e.playWarning(c)
			}
		}
		reason, silent, end := p.verdict(now, w)
		if !end || !c.watch.fired.CompareAndSwap(false, true) {
			continue
		}
		ev := c.log.Info().Str("reason", reason).Dur("talk", now.Sub(w.answered)).Bool("held", w.held)
		if reason == reasonMediaTimeout {
			ev = ev.Stringer("silent", silent)
		}
		ev.Msg("call watch ends call")
		// Off the tick: a peer slow to answer the BYE holds up only its call.
		go c.terminate(sip.NewHeader("Reason", reason), sip.StatusRequestTimeout)
	}
}
