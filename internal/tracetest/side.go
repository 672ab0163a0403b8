package tracetest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// endpoint is one side's UDP socket and the datagrams read from it. A
// goroutine reads into a queue so nothing is lost while a step waits.
type endpoint struct {
	side     Side
	conn     *net.UDPConn
	in       chan datagram
	overflow atomic.Bool
	done     sync.WaitGroup
}

type datagram struct {
	data []byte
	from *net.UDPAddr
}

// queueSize is far more than a trace exchanges; past it the run fails
// rather than block the reader.
const queueSize = 512

func listen(side Side, ip string) (*endpoint, error) {
	addr := net.ParseIP(ip)
	if addr == nil {
		return nil, fmt.Errorf("tracetest: bad ip %q", ip)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: addr})
	if err != nil {
		return nil, fmt.Errorf("tracetest: %s socket: %w", side, err)
	}
	ep := &endpoint{side: side, conn: conn, in: make(chan datagram, queueSize)}
	ep.done.Add(1)
	go ep.read()
	return ep, nil
}

func (ep *endpoint) read() {
	defer ep.done.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := ep.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		d := datagram{data: append([]byte(nil), buf[:n]...), from: from}
		select {
		case ep.in <- d:
		default:
			ep.overflow.Store(true)
		}
	}
}

func (ep *endpoint) addr() string { return ep.conn.LocalAddr().String() }

func (ep *endpoint) port() int { return ep.conn.LocalAddr().(*net.UDPAddr).Port }

func (ep *endpoint) close() {
	ep.conn.Close()
	ep.done.Wait()
}

// sideState is what one side remembers during a run.
type sideState struct {
	ep      *endpoint
	vars    map[string]string
	seen    map[string]bool      // transaction keys of messages already taken
	lastReq map[string]*received // last request taken, by method ("" = any)
	hidden  []string             // rendered texts this side must never receive
	rtp     []*net.UDPConn
}

func newSideState(ep *endpoint) *sideState {
	return &sideState{ep: ep, vars: map[string]string{}, seen: map[string]bool{}, lastReq: map[string]*received{}}
}

func (st *sideState) close() {
	for _, c := range st.rtp {
		c.Close()
	}
}

// errTimeout: nothing but absorbed messages arrived before the deadline.
var errTimeout = errors.New("nothing received")

// next takes the next message on a side that a trace must account for:
// 100 Trying and retransmissions of messages already taken are absorbed
// (logged, not returned). Every datagram, absorbed or not, is checked
// against the side's hidden texts.
func (ru *run) next(side Side, deadline time.Time) (*received, error) {
	st := ru.sides[side]
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		if st.ep.overflow.Load() {
			return nil, fmt.Errorf("%s queue overflowed (more than %d unread datagrams)", side, queueSize)
		}
		var d datagram
		select {
		case d = <-st.ep.in:
		case <-timer.C:
			return nil, errTimeout
		case <-ru.ctx.Done():
			return nil, ru.ctx.Err()
		}
		raw := string(d.data)
		for _, h := range st.hidden {
			if strings.Contains(raw, h) {
				return nil, fmt.Errorf("privacy breach: the %s received %q:\n%s", side, h, indent(raw))
			}
		}
		msg, err := sip.ParseMessage(d.data)
		if err != nil {
			return nil, fmt.Errorf("the %s received a datagram that does not parse (%v):\n%s", side, err, indent(raw))
		}
		rc := &received{raw: raw, msg: msg, from: d.from.String()}
		key := txKey(msg)
		if res, ok := msg.(*sip.Response); ok && res.StatusCode == 100 {
			ru.logf("%s absorbed %s", side, rc.describe())
			continue
		}
		if st.seen[key] {
			ru.logf("%s absorbed a retransmission: %s", side, rc.describe())
			continue
		}
		st.seen[key] = true
		ru.logf("%s <- engine:\n%s", side, indent(raw))
		st.remember(rc)
		return rc, nil
	}
}

// txKey identifies a message up to retransmission: a retransmitted request
// or response repeats it exactly.
func txKey(m sip.Message) string {
	var b strings.Builder
	switch m := m.(type) {
	case *sip.Request:
		b.WriteString("req " + string(m.Method))
	case *sip.Response:
		b.WriteString("res " + strconv.Itoa(m.StatusCode))
		if to := m.To(); to != nil {
			tag, _ := to.Params.Get("tag")
			b.WriteString(" " + tag)
		}
	}
	if h := m.CallID(); h != nil {
		b.WriteString(" " + h.Value())
	}
	if c := m.CSeq(); c != nil {
		b.WriteString(" " + c.Value())
	}
	if v := m.Via(); v != nil {
		branch, _ := v.Params.Get("branch")
		b.WriteString(" " + branch)
	}
	return b.String()
}

// remember sets the side's automatic variables from a message it took.
func (st *sideState) remember(rc *received) {
	m := rc.msg
	if h := m.CallID(); h != nil {
		st.vars["last_call_id"] = h.Value()
		if _, ok := st.vars["call_id"]; !ok {
			// A side that never sent a Call-ID (the trunk) takes the first
			// one it receives as its dialog's.
			st.vars["call_id"] = h.Value()
		}
	}
	if f := m.From(); f != nil {
		st.vars["last_from_tag"], _ = f.Params.Get("tag")
	}
	if t := m.To(); t != nil {
		st.vars["last_to_tag"], _ = t.Params.Get("tag")
	}
	if c := m.CSeq(); c != nil {
		st.vars["last_cseq"] = strconv.FormatUint(uint64(c.SeqNo), 10)
	}
	if cm, ok := m.(interface{ Contact() *sip.ContactHeader }); ok {
		if c := cm.Contact(); c != nil {
			st.vars["last_contact"] = c.Address.String()
		}
	}
	if req, ok := rc.request(); ok {
		st.lastReq[string(req.Method)] = rc
		st.lastReq[""] = rc
	}
}

func indent(s string) string {
	s = strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
