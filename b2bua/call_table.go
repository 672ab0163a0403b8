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
	t.index(c)
	t.count++
	return true
}

// index files c under its B leg's Call-ID and its binding, where it has
// them: a call the engine answers has neither until the extension is
// known (attachB).
func (t *callTable) index(c *call) {
	if c.bCallID != "" {
		t.byCallID[c.bCallID] = c
	}
	if c.bindingID == "" {
		return
	}
	set := t.bindCalls[c.bindingID]
	if set == nil {
		set = make(map[*call]struct{})
		t.bindCalls[c.bindingID] = set
	}
	set[c] = struct{}{}
}

// attachB gives a call in the table the B leg and binding found for it
// (set) before that leg's first request goes: whoever finds the call
// through the table from then on sees them.
func (t *callTable) attachB(c *call, set func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set()
	t.index(c)
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
	for id, c := range t.byCallID {
		if id == c.aCallID {
			out = append(out, c)
		}
	}
	return out
}

// infos lists the calls as an operator sees them, read under the table's
// lock (attachB writes what they show).
func (t *callTable) infos() []CallInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]CallInfo, 0, t.count)
	for id, c := range t.byCallID {
		if id == c.aCallID {
			out = append(out, c.info())
		}
	}
	return out
}

func (t *callTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}
