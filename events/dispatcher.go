package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/store"
)

// Outbox is the part of the store the dispatcher reads and settles.
type Outbox interface {
	OutboxAfter(ctx context.Context, seq uint64, limit int) ([]store.OutboxEntry, error)
	OutboxSignal() <-chan struct{}
	OutboxDone(ctx context.Context, seqs ...uint64) error
	OutboxDead(ctx context.Context, seq uint64, attempts int, lastErr string) error
}

// Routes says where an event of a pool and binding goes; false: nowhere
// (the event is dropped from the outbox as delivered).
type Routes func(pool, override string) (Webhook, bool)

// Defaults of a Dispatcher.
const (
	// DefaultRetryWindow is how long an event is retried before it moves
	// to the dead letters.
	DefaultRetryWindow = 24 * time.Hour
	// DefaultMaxHeld bounds the events held in memory, waiting for their
	// turn or their retry; the rest wait in the outbox on disk.
	DefaultMaxHeld = 10_000
	backoffBase    = time.Second
	backoffCap     = 10 * time.Minute
	readPage       = 512
)

// Dispatcher delivers the outbox to webhooks: at least once (an event is
// removed only after its receiver answered 2xx), in order per call (an
// event is not sent while an earlier one of its call waits or is in
// flight), with at most Concurrency POSTs in flight per URL, retried with
// exponential back-off and jitter until the retry window passes, then moved
// to the dead letters. A slow or dead receiver holds up only its own
// events: the calls never wait for it (they only queue to the store), and
// memory is bounded by MaxHeld.
type Dispatcher struct {
	ob     Outbox
	routes Routes
	client *http.Client
	log    zerolog.Logger
	now    func() time.Time
	window time.Duration
	// maxHeld and held bound what is in memory: read from the outbox and
	// not yet settled.
	maxHeld int

	mu    sync.Mutex
	held  int
	dests map[string]*destination
	// stats are the dispatcher's counters (Stats).
	stats Stats
	wake  chan struct{} // capacity 1: held fell, the reader may read on

	// backoff is the delay before the n-th retry (tests shorten it).
	backoff func(n int) time.Duration
}

// Option configures a Dispatcher.
type Option func(*Dispatcher)

// WithClient sets the HTTP client (default: one with no overall timeout;
// each POST has its webhook's Timeout).
func WithClient(c *http.Client) Option { return func(d *Dispatcher) { d.client = c } }

// WithLogger sets the logger.
func WithLogger(l zerolog.Logger) Option { return func(d *Dispatcher) { d.log = l } }

// WithRetryWindow sets how long an event is retried before it is dead.
func WithRetryWindow(w time.Duration) Option { return func(d *Dispatcher) { d.window = w } }

// WithMaxHeld bounds the events held in memory.
func WithMaxHeld(n int) Option { return func(d *Dispatcher) { d.maxHeld = n } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(d *Dispatcher) { d.now = now } }

// WithBackoff replaces the retry delays: base doubles per attempt up to
// cap, and each delay is drawn from its upper half (jitter).
func WithBackoff(base, cap time.Duration) Option {
	return func(d *Dispatcher) { d.backoff = jittered(base, cap) }
}

// NewDispatcher returns a dispatcher of ob's events to routes; Run starts
// it.
func NewDispatcher(ob Outbox, routes Routes, opts ...Option) *Dispatcher {
	d := &Dispatcher{
		ob: ob, routes: routes,
		client:  &http.Client{Transport: newTransport()},
		log:     zerolog.Nop(),
		now:     time.Now,
		window:  DefaultRetryWindow,
		maxHeld: DefaultMaxHeld,
		dests:   map[string]*destination{},
		wake:    make(chan struct{}, 1),
		backoff: jittered(backoffBase, backoffCap),
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

func jittered(base, cap time.Duration) func(int) time.Duration {
	return func(n int) time.Duration {
		d := base
		for i := 1; i < n && d < cap; i++ {
			d *= 2
		}
		d = min(d, cap)
		return d/2 + rand.N(d/2+1)
	}
}

// Run delivers until ctx ends; it returns nil then. It reads the outbox
// from its start, so after a restart whatever was not settled goes again.
func (d *Dispatcher) Run(ctx context.Context) error {
	var after uint64
	var wg sync.WaitGroup
	defer func() {
		d.mu.Lock()
		for _, dest := range d.dests {
			dest.stop()
		}
		d.mu.Unlock()
		wg.Wait()
	}()
	for {
		signal := d.ob.OutboxSignal() // before reading: no commit slips between
		d.mu.Lock()
		room := d.maxHeld - d.held
		d.mu.Unlock()
		full := false
		if room > 0 {
			entries, err := d.ob.OutboxAfter(ctx, after, min(room, readPage))
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d.log.Error().Err(err).Msg("outbox unreadable; trying again")
				if !sleep(ctx, time.Second) {
					return nil
				}
				continue
			}
			var unrouted []uint64
			for _, e := range entries {
				after = e.Seq
				w, ok := d.routes(e.Pool, e.Webhook)
				if !ok {
					unrouted = append(unrouted, e.Seq)
					continue
				}
				d.destination(ctx, w, &wg).add(&item{entry: e})
			}
			if len(unrouted) > 0 {
				if err := d.ob.OutboxDone(ctx, unrouted...); err != nil && ctx.Err() == nil {
					d.log.Warn().Err(err).Msg("events with no webhook not removed")
				}
			}
			full = len(entries) == min(room, readPage)
		}
		if full {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-signal:
		case <-d.wake:
		}
	}
}

// destination is the queue and the workers of one webhook URL.
func (d *Dispatcher) destination(ctx context.Context, w Webhook, wg *sync.WaitGroup) *destination {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.held++
	if dest, ok := d.dests[w.URL]; ok {
		dest.mu.Lock()
		dest.hook = w // the config may have changed; the newest wins
		dest.mu.Unlock()
		return dest
	}
	dest := &destination{d: d, hook: w, busy: map[string]int{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	d.dests[w.URL] = dest
	n := w.Concurrency
	if n == 0 {
		n = DefaultConcurrency
	}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dest.work(ctx)
		}()
	}
	return dest
}

func (d *Dispatcher) released(n int) {
	d.mu.Lock()
	d.held -= n
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// item is one held event.
type item struct {
	entry    store.OutboxEntry
	attempts int
	next     time.Time // not before: its retry time
	lastErr  string
}

type destination struct {
	d *Dispatcher

	mu   sync.Mutex
	hook Webhook
	// queue is in Seq order; busy counts each stream's items in flight.
	queue   []*item
	busy    map[string]int
	kick    chan struct{} // capacity 1: the queue changed
	done    chan struct{}
	stopped bool
}

func (q *destination) add(it *item) {
	q.mu.Lock()
	q.queue = append(q.queue, it)
	q.mu.Unlock()
	q.poke()
}

func (q *destination) poke() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *destination) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped {
		q.stopped = true
		close(q.done)
	}
}

// take removes from the queue the next items that may go in one POST:
// due, and the first of their stream not in flight. With none due it says
// when the earliest retry is (zero: nothing waits).
func (q *destination) take(now time.Time) ([]*item, Webhook, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	limit := max(q.hook.Batch, 1)
	var (
		out      []*item
		earliest time.Time
		blocked  map[string]bool // streams with an earlier item left in the queue
		keep     = q.queue[:0]
	)
	for _, it := range q.queue {
		s := it.entry.Stream
		switch {
		case len(out) == limit, blocked[s], q.busy[s] > 0 && !inBatch(out, s):
			keep = append(keep, it)
			if blocked == nil {
				blocked = map[string]bool{}
			}
			blocked[s] = true
		case it.next.After(now):
			keep = append(keep, it)
			if earliest.IsZero() || it.next.Before(earliest) {
				earliest = it.next
			}
			if blocked == nil {
				blocked = map[string]bool{}
			}
			blocked[s] = true
		default:
			out = append(out, it)
			q.busy[s]++
		}
	}
	clear(q.queue[len(keep):])
	q.queue = keep
	return out, q.hook, earliest
}

func inBatch(batch []*item, stream string) bool {
	for _, it := range batch {
		if it.entry.Stream == stream {
			return true
		}
	}
	return false
}

// work sends what take gives until the dispatcher stops.
func (q *destination) work(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch, hook, earliest := q.take(q.d.now())
		if len(batch) > 0 {
			err := q.d.post(ctx, hook, batch)
			q.settle(ctx, batch, err)
			continue
		}
		var tc <-chan time.Time
		if !earliest.IsZero() {
			timer.Reset(max(earliest.Sub(q.d.now()), time.Millisecond))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-q.done:
			return
		case <-q.kick:
		case <-tc:
		}
		if tc != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// settle removes a delivered batch from the outbox, or schedules its
// retry, or gives up on the items whose retry window has passed.
func (q *destination) settle(ctx context.Context, batch []*item, err error) {
	d := q.d
	now := d.now()
	q.mu.Lock()
	for _, it := range batch {
		q.busy[it.entry.Stream]--
		if q.busy[it.entry.Stream] == 0 {
			delete(q.busy, it.entry.Stream)
		}
	}
	q.mu.Unlock()
	if ctx.Err() != nil {
		return // stopping: the outbox keeps them for the next run
	}
	if err == nil {
		seqs := make([]uint64, len(batch))
		for i, it := range batch {
			seqs[i] = it.entry.Seq
		}
		if err := d.ob.OutboxDone(ctx, seqs...); err != nil {
			d.log.Warn().Err(err).Msg("delivered events not removed; they will be sent again")
		}
		d.released(len(batch))
		d.note(nil, len(batch), 0)
		q.poke() // a stream they held may go on
		return
	}
	var retry []*item
	dead := 0
	for _, it := range batch {
		it.attempts++
		it.lastErr = err.Error()
		if now.Sub(it.entry.Since) >= d.window {
			if derr := d.ob.OutboxDead(ctx, it.entry.Seq, it.attempts, it.lastErr); derr != nil {
				d.log.Error().Err(derr).Str("event", it.entry.ID).Msg("event not moved to the dead letters; retrying it")
				it.next = now.Add(d.backoff(it.attempts))
				retry = append(retry, it)
				continue
			}
			d.log.Warn().Str("event", it.entry.ID).Int("attempts", it.attempts).Str("error", it.lastErr).Msg("event undeliverable; moved to the dead letters")
			dead++
			continue
		}
		it.next = now.Add(d.backoff(it.attempts))
		retry = append(retry, it)
	}
	if len(retry) > 0 {
		d.log.Debug().Err(err).Int("events", len(retry)).Str("url", q.hook.URL).Msg("delivery failed; will retry")
		q.mu.Lock()
		q.queue = append(q.queue, retry...)
		sort.SliceStable(q.queue, func(i, j int) bool { return q.queue[i].entry.Seq < q.queue[j].entry.Seq })
		q.mu.Unlock()
	}
	if dead > 0 {
		d.released(dead)
	}
	d.note(err, 0, dead)
	q.poke()
}

// Stats is what the dispatcher has done since it started, for metrics.
type Stats struct {
	// Held is the events read from the outbox and not yet settled.
	Held int
	// Delivered is the events receivers took; Dead those given up.
	Delivered, Dead uint64
	// Posts is the POSTs made, by result: "2xx", "4xx", "5xx" (the
	// receiver's status class) or "error" (no answer: refused, timed out).
	Posts map[string]uint64
}

// Stats returns a snapshot of the dispatcher's counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stats
	st.Held = d.held
	st.Posts = maps.Clone(d.stats.Posts)
	return st
}

// note counts one POST's result and its events' fate.
func (d *Dispatcher) note(err error, delivered, dead int) {
	result := "2xx"
	var status errStatus
	switch {
	case err == nil:
	case errors.As(err, &status) && int(status) >= 500:
		result = "5xx"
	case errors.As(err, &status):
		result = fmt.Sprintf("%dxx", int(status)/100)
	default:
		result = "error"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stats.Posts == nil {
		d.stats.Posts = map[string]uint64{}
	}
	d.stats.Posts[result]++
	d.stats.Delivered += uint64(delivered)
	d.stats.Dead += uint64(dead)
}

// errStatus is a receiver's non-2xx answer.
type errStatus int

func (e errStatus) Error() string { return fmt.Sprintf("receiver answered %d", int(e)) }

// post sends a batch in one POST.
func (d *Dispatcher) post(ctx context.Context, w Webhook, batch []*item) error {
	var body []byte
	if max(w.Batch, 1) == 1 && len(batch) == 1 {
		body = batch[0].entry.Body
	} else {
		bodies := make([][]byte, len(batch))
		n := 16
		for i, it := range batch {
			bodies[i] = it.entry.Body
			n += len(it.entry.Body) + 1
		}
		body = appendBatch(make([]byte, 0, n), bodies)
	}
	timeout := w.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "xbridge-webhook/1")
	if len(batch) == 1 {
		req.Header.Set(EventIDHeader, batch[0].entry.ID)
	}
	if w.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(w.Secret, d.now(), body))
	}
	res, err := d.client.Do(req)
	if err != nil {
		return err
	}
	// Drain a little so the connection is reused; a receiver's body is not
	// read further.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return errStatus(res.StatusCode)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// newTransport keeps as many idle connections per receiver as POSTs may be
// in flight to it: the default of two would close and dial one for
// every POST beyond two.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}
