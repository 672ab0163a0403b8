package b2bua

import "sync"

// callTable finds a call by the Call-ID of either leg, and all calls of a
// binding. sipgo's dialog caches forget nothing until Close, so the engine
// keeps its own table and removes a call exactly once, when it ends.
type callTable struct {
	mu        sync.RWMutex
	byCallID  map[string]*call
	bindCalls map[string]map[*call]struct{}
	count     int
}

func newCallTable() *callTable {
	return &callTable{
		byCallID:  make(map[string]*call),
		bindCalls: make(map[string]map[*call]struct{}),
	}
}

// add registers a call under the Call-IDs of both legs and its binding; it
// refuses a call whose A-leg Call-ID is already taken.
func (t *callTable) add(c *call) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byCallID[c.aCallID] != nil {
		return false
	}
	t.byCallID[c.aCallID] = c
	t.byCallID[c.bCallID] = c
	set := t.bindCalls[c.bindingID]
	if set == nil {
		set = make(map[*call]struct{})
		t.bindCalls[c.bindingID] = set
	}
	set[c] = struct{}{}
	t.count++
	return true
}

func (t *callTable) remove(c *call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byCallID[c.aCallID] != c {
		return
	}
	delete(t.byCallID, c.aCallID)
	if c.bCallID != "" && t.byCallID[c.bCallID] == c {
		delete(t.byCallID, c.bCallID)
	}
	if set := t.bindCalls[c.bindingID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(t.bindCalls, c.bindingID)
		}
	}
	t.count--
}

func (t *callTable) get(callID string) *call {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byCallID[callID]
}

func (t *callTable) byBinding(id string) []*call {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*call, 0, len(t.bindCalls[id]))
	for c := range t.bindCalls[id] {
		out = append(out, c)
	}
	return out
}

func (t *callTable) all() []*call {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*call, 0, t.count)
	for _, set := range t.bindCalls {
		for c := range set {
			out = append(out, c)
		}
	}
	return out
}

func (t *callTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}
