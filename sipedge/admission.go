// Package sipedge is where SIP meets the engine: what every request passes
// before a call exists.
package sipedge

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Admission control decides, before anything is allocated for a new call
// (no routing, no store lookup, no relay ports, no dialog), whether the
// engine takes it. Past a limit the call is refused at once with 503 and
// Retry-After, so an overloaded engine spends its CPU on the calls it
// admitted instead of on calls it will lose anyway, and a carrier's SBC can
// send the excess elsewhere. Calls already up are never touched: only new
// calls are counted and refused.
//
// The rates are GCRA token buckets (the "virtual scheduling" form of ITU-T
// I.371): one int64 per bucket, the theoretical arrival time of the next
// call, no floats and no timers. Each source address has its own bucket in
// a table of fixed size that evicts the least recently seen source, so a
// flood from random addresses costs a bounded amount of memory.

// Admission refusals; Admit returns one of them.
var (
	ErrCallLimit   = errors.New("sipedge: too many calls at once")
	ErrRateLimit   = errors.New("sipedge: too many new calls per second")
	ErrSourceLimit = errors.New("sipedge: too many new calls per second from this source")
)

// Limits are the admission limits. A zero field is no limit.
type Limits struct {
	// MaxCalls bounds the calls being set up or up at once.
	MaxCalls int
	// CPS bounds new calls per second from all sources together.
	CPS float64
	// CPSPerSource bounds new calls per second from one source address.
	CPSPerSource float64
	// Burst is how many seconds' worth of each rate may arrive at once
	// after a quiet spell; default 1 (and never less than one call).
	Burst time.Duration
}

// DefaultMaxSources is how many source addresses the per-source buckets
// remember. A source's state is ~80 bytes with its map slot; carriers have
// a handful of trunk addresses.
const DefaultMaxSources = 4096

// AdmissionOption configures an Admission.
type AdmissionOption func(*Admission)

// WithAdmissionClock replaces time.Now (tests drive the buckets by hand).
func WithAdmissionClock(now func() time.Time) AdmissionOption {
	return func(a *Admission) { a.now = now }
}

// WithSourceExempt names the sources the per-source rate does not apply
// to: a carrier's trusted trunks carry everyone's calls from a few
// addresses and are held only by the overall limits (as Kamailio's sample
// configuration exempts trusted peers from its flood detection). exempt
// must be cheap and safe for concurrent use.
func WithSourceExempt(exempt func(netip.Addr) bool) AdmissionOption {
	return func(a *Admission) { a.exempt = exempt }
}

// WithMaxSources sets how many source addresses are remembered (default
// DefaultMaxSources, at least 1). Past it the source seen least recently is
// forgotten; it starts again with a full bucket.
func WithMaxSources(n int) AdmissionOption {
	return func(a *Admission) { a.maxSources = max(n, 1) }
}

// AdmissionStats is a snapshot of an Admission's counters.
type AdmissionStats struct {
	Active   int    `json:"active"`   // admitted calls not yet released
	Admitted uint64 `json:"admitted"` // since start
	// Refusals since start, by the limit that refused.
	RefusedCalls  uint64 `json:"refused_calls"`
	RefusedRate   uint64 `json:"refused_rate"`
	RefusedSource uint64 `json:"refused_source"`
	// Stateless is how many of the refusals Screen made.
	Stateless uint64 `json:"stateless"`
	Sources   int    `json:"sources"` // source addresses remembered now
}

// Admission counts calls in progress and new calls per second. It is safe
// for concurrent use; one mutex covers all of it (an Admit is ~100 ns, far
// below what a call costs, so the lock is never what limits the rate).
type Admission struct {
	maxCalls   int
	global     gcra
	perSource  gcra // interval and tolerance; the arrival times live in sources
	maxSources int
	exempt     func(netip.Addr) bool // nil: none
	now        func() time.Time
	epoch      time.Time

	mu      sync.Mutex
	active  int
	globTAT int64
	sources lruTable
	stats   AdmissionStats
}

// NewAdmission returns an Admission enforcing l.
func NewAdmission(l Limits, opts ...AdmissionOption) *Admission {
	a := &Admission{maxCalls: max(l.MaxCalls, 0), maxSources: DefaultMaxSources, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	burst := l.Burst
	if burst <= 0 {
		burst = time.Second
	}
	a.global = newGCRA(l.CPS, burst)
	a.perSource = newGCRA(l.CPSPerSource, burst)
	a.epoch = a.now()
	if a.perSource.on() {
		a.sources = newLRUTable(a.maxSources)
	}
	return a
}

// Admit asks to start a new call from src. On nil the call is counted as
// active until Release; otherwise nothing is counted or consumed, err says
// which limit refused, and retryAfter is how long until that limit could
// admit a call (at least a second: Retry-After counts whole seconds).
func (a *Admission) Admit(src netip.Addr) (retryAfter time.Duration, err error) {
	return a.decide(src, admit)
}

// Screen is Admit for a path that can only refuse, ahead of the one that
// admits (a stateless 503 before the transaction layer, which spends
// nothing on a refused call): an error means the call must be refused now,
// and it is counted as refused (and as Stateless); nil admits nothing and
// consumes nothing, and the call goes on to Admit, which decides.
func (a *Admission) Screen(src netip.Addr) (retryAfter time.Duration, err error) {
	return a.decide(src, screen)
}

// peek is Screen without counting: for a caller that must look closer at
// the call before it may refuse it.
func (a *Admission) peek(src netip.Addr) (time.Duration, error) {
	return a.decide(src, peek)
}

// mode is what decide may change: admit takes tokens and a slot and counts;
// screen only counts a refusal; peek changes nothing.
type mode int

const (
	admit mode = iota
	screen
	peek
)

func (a *Admission) decide(src netip.Addr, m mode) (time.Duration, error) {
	t := int64(a.now().Sub(a.epoch))
	src = src.Unmap()
	perSource := a.perSource.on() && (a.exempt == nil || !a.exempt(src))
	a.mu.Lock()
	defer a.mu.Unlock()
	// Source first: a flooding source is told so even while the engine as
	// a whole still has room.
	var srcTAT *int64
	if perSource {
		if m == admit {
			srcTAT = a.sources.get(src, t)
		} else {
			srcTAT = a.sources.peek(src)
		}
		if srcTAT != nil {
			if wait := a.perSource.wait(*srcTAT, t); wait > 0 {
				return a.refuse(m, &a.stats.RefusedSource, ErrSourceLimit, wait)
			}
		}
	}
	if a.global.on() {
		if wait := a.global.wait(a.globTAT, t); wait > 0 {
			return a.refuse(m, &a.stats.RefusedRate, ErrRateLimit, wait)
		}
	}
	if a.maxCalls > 0 && a.active >= a.maxCalls {
		// Nobody knows when a call ends; at the rate calls end on a busy
		// engine a slot frees within a second.
		return a.refuse(m, &a.stats.RefusedCalls, ErrCallLimit, time.Second)
	}
	if m != admit {
		return 0, nil
	}
	if srcTAT != nil {
		*srcTAT = a.perSource.take(*srcTAT, t)
	}
	if a.global.on() {
		a.globTAT = a.global.take(a.globTAT, t)
	}
	a.active++
	a.stats.Admitted++
	return 0, nil
}

func (a *Admission) refuse(m mode, counter *uint64, err error, wait time.Duration) (time.Duration, error) {
	switch m {
	case admit:
		*counter++
	case screen:
		*counter++
		a.stats.Stateless++
	}
	return max(wait, time.Second), err
}

// Release ends a call Admit admitted. Call it exactly once per admitted
// call, however the call ended.
func (a *Admission) Release() {
	a.mu.Lock()
	if a.active > 0 {
		a.active--
	}
	a.mu.Unlock()
}

// Stats returns the counters.
func (a *Admission) Stats() AdmissionStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Active = a.active
	s.Sources = a.sources.len()
	return s
}

// gcra is one rate: a call may arrive when the theoretical arrival time
// (TAT) of the next call is no later than now plus the tolerance; each
// admitted call moves the TAT on by one interval. Times are nanoseconds
// since the Admission's epoch.
type gcra struct {
	interval  int64 // 1 s / rate; 0: no limit
	tolerance int64 // (burst calls - 1) * interval
}

func newGCRA(rate float64, burst time.Duration) gcra {
	if rate <= 0 {
		return gcra{}
	}
	interval := max(int64(float64(time.Second)/rate), 1)
	calls := max(int64(burst.Seconds()*rate), 1)
	return gcra{interval: interval, tolerance: (calls - 1) * interval}
}

func (g gcra) on() bool { return g.interval > 0 }

// wait is how long until a call may arrive; <= 0 means now.
func (g gcra) wait(tat, now int64) time.Duration {
	return time.Duration(tat - g.tolerance - now)
}

// take admits a call at now and returns the new TAT.
func (g gcra) take(tat, now int64) int64 {
	return max(tat, now) + g.interval
}

// lruTable maps source addresses to their TATs in a fixed number of slots,
// evicting the least recently used. The slots form a doubly linked list by
// index (head: most recent), so a hit or an eviction moves no memory and
// allocates nothing once the table is full.
type lruTable struct {
	index map[netip.Addr]int32
	slots []lruSlot
	head  int32 // -1 when empty
	tail  int32
	limit int
}

type lruSlot struct {
	addr       netip.Addr
	tat        int64
	prev, next int32
}

func newLRUTable(limit int) lruTable {
	return lruTable{index: make(map[netip.Addr]int32, min(limit, 1024)), head: -1, tail: -1, limit: limit}
}

func (l *lruTable) len() int { return len(l.slots) }

// peek returns the TAT of addr, or nil when addr is not remembered (it
// would start with a full bucket).
func (l *lruTable) peek(addr netip.Addr) *int64 {
	if i, ok := l.index[addr]; ok {
		return &l.slots[i].tat
	}
	return nil
}

// get returns the TAT of addr, remembering addr (with a TAT of now, a full
// bucket) if it was not, and marks it most recently used.
func (l *lruTable) get(addr netip.Addr, now int64) *int64 {
	if i, ok := l.index[addr]; ok {
		l.moveToFront(i)
		return &l.slots[i].tat
	}
	var i int32
	if len(l.slots) < l.limit {
		i = int32(len(l.slots))
		l.slots = append(l.slots, lruSlot{prev: -1, next: -1})
	} else {
		// Forget the least recently seen source. Its bucket has refilled
		// unless it was seen within the last burst, which only a flood
		// from more addresses than the table holds can make happen; the
		// overall rate still holds then.
		i = l.tail
		l.unlink(i)
		delete(l.index, l.slots[i].addr)
	}
	l.slots[i].addr, l.slots[i].tat = addr, now
	l.index[addr] = i
	l.pushFront(i)
	return &l.slots[i].tat
}

func (l *lruTable) moveToFront(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	l.pushFront(i)
}

func (l *lruTable) unlink(i int32) {
	s := &l.slots[i]
	if s.prev >= 0 {
		l.slots[s.prev].next = s.next
	} else {
		l.head = s.next
	}
	if s.next >= 0 {
		l.slots[s.next].prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = -1, -1
}

func (l *lruTable) pushFront(i int32) {
	s := &l.slots[i]
	s.prev, s.next = -1, l.head
	if l.head >= 0 {
		l.slots[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}
