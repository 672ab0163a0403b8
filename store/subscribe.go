package store

import "sync"

// subscriberBuffer is how many Ended events a subscriber may fall behind
// before delivery blocks the sweeper.
const subscriberBuffer = 256

// hub fans Ended events out to subscribers. Delivery never drops: a full
// subscriber blocks the publisher until it drains or cancels.
type hub struct {
	mu     sync.Mutex
	next   int
	subs   map[int]*subscriber
	closed bool
}

type subscriber struct {
	ch   chan Ended
	done chan struct{} // closed by cancel; wakes a publisher blocked on ch
	once sync.Once
	// sendMu is held across a send, so cancel can close ch only once no send
	// is in flight.
	sendMu    sync.Mutex
	cancelled bool
}

func newHub() *hub { return &hub{subs: make(map[int]*subscriber)} }

func (h *hub) subscribe() (<-chan Ended, func()) {
	s := &subscriber{ch: make(chan Ended, subscriberBuffer), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.cancel()
		return s.ch, func() {}
	}
	id := h.next
	h.next++
	h.subs[id] = s
	h.mu.Unlock()
	return s.ch, func() {
		h.mu.Lock()
		delete(h.subs, id)
		h.mu.Unlock()
		s.cancel()
	}
}

func (s *subscriber) cancel() {
	s.once.Do(func() {
		close(s.done)
		s.sendMu.Lock()
		s.cancelled = true
		close(s.ch)
		s.sendMu.Unlock()
	})
}

func (s *subscriber) send(e Ended) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.cancelled {
		return
	}
	select {
	case s.ch <- e:
	case <-s.done:
	}
}

// publish delivers events in order to every current subscriber.
func (h *hub) publish(events []Ended) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	subs := make([]*subscriber, 0, len(h.subs))
	for _, s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		for _, e := range events {
			s.send(e)
		}
	}
}

// close cancels every subscription (their channels close) and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	subs := h.subs
	h.subs = map[int]*subscriber{}
	h.mu.Unlock()
	for _, s := range subs {
		s.cancel()
	}
}
