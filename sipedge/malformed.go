package sipedge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// Bad input comes in two kinds. Bytes sipgo cannot parse never become a
// message: sipgo logs and drops such a datagram, and closes such a stream,
// so the sender retransmits into silence. The listening sockets are wrapped
// so that an unparseable request is answered from what can still be read off
// its raw text (a 400, or 505/416 when the request line shows why). Requests
// sipgo parses but that no SIP element could act on (two Call-IDs, a CSeq
// naming another method, SIP/7.0) are refused by vetted before any handler
// runs. Neither path touches a call, the store or the relay.

// MalformedStats counts the input refused before any handler ran.
type MalformedStats struct {
	// Answered is unparseable requests answered from their raw text.
	Answered uint64 `json:"answered"`
	// Dropped is unparseable input nothing could be addressed to: responses,
	// non-SIP bytes, requests whose Via or CSeq cannot be recovered.
	Dropped uint64 `json:"dropped"`
	// Refused is parsed requests refused with a 4xx/5xx by the vetting.
	Refused uint64 `json:"refused"`
}

// Malformed reports how much bad input the engine has refused.
func (e *Edge) Malformed() MalformedStats {
	g := e.malformed
	return MalformedStats{Answered: g.answered.Load(), Dropped: g.dropped.Load(), Refused: g.refused.Load()}
}

// partialMessageTimeout is how long a TCP peer may leave a started message
// unfinished (RFC 4475 clerr: a Content-Length larger than what follows)
// before the connection is closed: 64*T1, the life of a transaction.
const partialMessageTimeout = 32 * time.Second

// malformedGuard finds and answers the input sipgo's transport drops.
type malformedGuard struct {
	log    zerolog.Logger
	parser *sip.Parser // read-only once built; safe for every reader at once

	// delivered counts UDP messages sipgo parsed and handed on. sipgo parses
	// a datagram and hands it to the transport's handlers on the reading
	// goroutine before it reads the next one, so a datagram after which this
	// has not moved was not delivered. That costs the happy path one atomic
	// add and load; only the rare undelivered datagram is parsed a second
	// time, to learn why.
	delivered atomic.Uint64

	answered atomic.Uint64
	dropped  atomic.Uint64
	refused  atomic.Uint64

	partialTimeout atomic.Int64 // a time.Duration; 0 waits forever

	// cancelAllowed, when set, judges every CANCEL read off a stream
	// (WithCancelScreen); it is set before the listeners start.
	cancelAllowed func(callID string, src netip.Addr) bool
}

func newMalformedGuard(ua *sipgo.UserAgent, log zerolog.Logger) *malformedGuard {
	// A flood of garbage must not become a flood of log lines; the counters
	// see everything.
	log = log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second})
	g := &malformedGuard{log: log, parser: sip.NewParser()}
	g.partialTimeout.Store(int64(partialMessageTimeout))
	ua.TransportLayer().OnMessage(g.onDelivered)
	return g
}

func (g *malformedGuard) onDelivered(m sip.Message) {
	if m.Transport() == "UDP" {
		g.delivered.Add(1)
	}
}

// packetConn wraps the UDP listener handed to sipgo.
func (g *malformedGuard) packetConn(c net.PacketConn) net.PacketConn {
	return &guardedPacketConn{PacketConn: c, g: g}
}

// listener wraps the TCP listener handed to sipgo.
func (g *malformedGuard) listener(l net.Listener) net.Listener {
	return &guardedListener{Listener: l, g: g}
}

// guardedPacketConn checks, as sipgo asks for the next datagram, whether the
// previous one was delivered. sipgo reads into one buffer and changes it only
// by reading, so the previous datagram is still intact at that moment and
// nothing is copied.
type guardedPacketConn struct {
	net.PacketConn
	g *malformedGuard

	last     []byte
	lastFrom net.Addr
	mark     uint64 // g.delivered when last was handed to sipgo
}

func (c *guardedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.last != nil {
		if c.g.delivered.Load() == c.mark {
			c.g.undelivered(c.PacketConn, c.last, c.lastFrom)
		}
		c.last, c.lastFrom = nil, nil
	}
	n, from, err := c.PacketConn.ReadFrom(b)
	if err == nil && n > 0 {
		c.last, c.lastFrom, c.mark = b[:n], from, c.g.delivered.Load()
	}
	return n, from, err
}

// undelivered answers a datagram sipgo did not hand on, if it is a request
// that failed to parse and a response can be addressed.
func (g *malformedGuard) undelivered(conn net.PacketConn, data []byte, from net.Addr) {
	if isKeepalive(data) {
		return
	}
	_, perr := g.parser.ParseSIP(data)
	if perr == nil {
		return // not a parse failure; sipgo had its own reason
	}
	res, dst, err := answerUnparsed(data, from, conn.LocalAddr(), perr)
	if err != nil {
		g.dropped.Add(1)
		g.log.Info().Str("from", from.String()).Err(err).Str("parse_error", perr.Error()).Msg("unparseable sip datagram dropped")
		return
	}
	if _, err := conn.WriteTo(res, dst); err != nil {
		g.log.Debug().Err(err).Str("to", dst.String()).Msg("write response to unparseable request")
		return
	}
	g.answered.Add(1)
	g.log.Info().Str("from", from.String()).Str("status", statusOf(res)).Str("parse_error", perr.Error()).Msg("unparseable sip request answered")
}

// isKeepalive is what sipgo skips without parsing: NUL padding and the
// CRLF pings of RFC 5626.
func isKeepalive(data []byte) bool {
	if len(bytes.Trim(data, "\x00")) == 0 {
		return true
	}
	return len(data) <= 4 && len(bytes.Trim(data, "\r\n")) == 0
}

type guardedListener struct {
	net.Listener
	g *malformedGuard
}

func (l *guardedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	var src netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src = ta.AddrPort().Addr().Unmap()
	}
	return &guardedStreamConn{Conn: c, g: l.g, par: l.g.parser.NewSIPStream(), src: src}, nil
}

// guardedStreamConn frames the stream itself, ahead of sipgo, and hands
// sipgo only complete messages. A stream has no datagram boundary to notice
// a failure by, and after a framing error there is no boundary to resync
// on: when a message cannot be framed or parsed, it answers it, hands sipgo
// the complete messages before it, and then ends the stream, so sipgo
// closes the connection. Holding each message until its last byte is also
// what lets a CANCEL be judged whole before sipgo's transaction layer
// matches it (cancelAllowed), as over UDP. This parses every TCP message
// twice (BenchmarkMalformedGuardTCP).
type guardedStreamConn struct {
	net.Conn
	g   *malformedGuard
	par *sip.ParserStream
	src netip.Addr // the peer's IP, for the CANCEL screen

	// pending is what was read and not yet handed to sipgo: first ready
	// bytes of complete messages, then the message being assembled.
	pending  []byte
	ready    int
	started  time.Time // when the assembled message's first byte came
	deadline bool      // a partial-message read deadline is set
	err      error     // the read error to return once ready is handed on

	failed      bool
	lingerUntil time.Time
}

func (c *guardedStreamConn) Read(b []byte) (int, error) {
	for {
		switch {
		case c.ready > 0:
			return c.handOn(b), nil
		case c.failed:
			return 0, c.linger(b)
		case c.err != nil:
			return 0, c.err
		}
		c.armDeadline()
		n, err := c.Conn.Read(b)
		if n > 0 {
			if c.keepalive(b[:n]) {
				return n, err // b holds it already, as it came
			}
			c.inspect(b[:n])
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				c.err = err // the stream is over; hand on what is ready first
				continue
			}
			if c.deadline {
				c.g.dropped.Add(1)
				c.g.log.Info().Str("from", c.RemoteAddr().String()).Int("bytes", len(c.pending)-c.ready).Msg("incomplete sip message on tcp; closing")
			}
			return 0, err
		}
	}
}

// keepalive passes on at once what sipgo answers as an RFC 5626 ping: up to
// two CRLFs read alone between messages (a carrier's SBC drops the flow when
// its pong is late), and NUL padding, which sipgo skips. Held back, a ping
// would become leading CRLFs of the next message, and sipgo would not
// answer it. CRLFs already held between messages are discarded with it:
// RFC 3261 7.5 has them ignored.
func (c *guardedStreamConn) keepalive(data []byte) bool {
	if len(bytes.TrimLeft(c.pending[c.ready:], "\r\n")) > 0 {
		return false // inside a message: a CRLF here ends one of its lines
	}
	if len(bytes.Trim(data, "\x00")) != 0 && (len(data) > 4 || len(bytes.Trim(data, "\r\n")) != 0) {
		return false
	}
	if len(c.pending) > c.ready {
		c.pending = c.pending[:c.ready]
		c.par.Reset()
	}
	return true
}

// handOn copies complete messages into sipgo's buffer.
func (c *guardedStreamConn) handOn(b []byte) int {
	n := copy(b, c.pending[:c.ready])
	c.pending = c.pending[:copy(c.pending, c.pending[n:])]
	c.ready -= n
	return n
}

// failLinger is how long a stream that cannot be framed stays open after
// its 400, so the requests before the bad one can still be answered on it.
const failLinger = 2 * time.Second

// linger discards what the peer still sends until it closes or failLinger
// has passed, and then ends the stream for sipgo.
func (c *guardedStreamConn) linger(b []byte) error {
	_ = c.Conn.SetReadDeadline(c.lingerUntil)
	for range 1 << 16 {
		if _, err := c.Conn.Read(b); err != nil {
			break
		}
	}
	return io.EOF
}

// armDeadline bounds the time a message may take to arrive, counted from
// its first byte so that trickling does not extend it; between messages the
// connection may idle.
func (c *guardedStreamConn) armDeadline() {
	mid := len(bytes.TrimLeft(c.pending[c.ready:], "\r\n")) > 0
	if !mid {
		c.started = time.Time{}
	} else if c.started.IsZero() {
		c.started = time.Now()
	}
	switch timeout := time.Duration(c.g.partialTimeout.Load()); {
	case mid && timeout > 0:
		c.deadline = true
		_ = c.Conn.SetReadDeadline(c.started.Add(timeout))
	case c.deadline:
		c.deadline = false
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
}

// inspect feeds a chunk to the stream parser. Each complete message in it
// joins the ready bytes, unless it is a CANCEL the screen refuses, which is
// dropped there. It returns bad when a message cannot be used: that one is
// answered, and only the ready bytes before it are handed on.
func (c *guardedStreamConn) inspect(chunk []byte) (bad bool) {
	c.pending = append(c.pending, chunk...)
	if _, err := c.par.Write(chunk); err != nil {
		return c.fail(err)
	}
	for c.par.Buffer().Len() > 0 {
		msg, n, err := c.par.ParseNext()
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			return c.fail(err)
		}
		// Two Content-Lengths leave the framing to a guess (RFC 4475 mcl01).
		if len(msg.GetHeaders("Content-Length")) > 1 {
			return c.fail(errors.New("multiple Content-Length values"))
		}
		if c.screened(msg) {
			c.pending = append(c.pending[:c.ready], c.pending[c.ready+n:]...)
			continue
		}
		c.ready += n
	}
	return false
}

// screened reports whether msg is a CANCEL the engine refuses from this
// connection's peer (WithCancelScreen).
func (c *guardedStreamConn) screened(msg sip.Message) bool {
	allowed := c.g.cancelAllowed
	if allowed == nil || !c.src.IsValid() {
		return false
	}
	req, ok := msg.(*sip.Request)
	if !ok || !req.IsCancel() || req.CallID() == nil {
		return false
	}
	return !allowed(req.CallID().Value(), c.src)
}

// fail answers the message after the ready bytes and ends the stream.
func (c *guardedStreamConn) fail(perr error) bool {
	res, _, err := answerUnparsed(c.pending[c.ready:], nil, c.LocalAddr(), perr)
	if err != nil {
		c.g.dropped.Add(1)
		c.g.log.Info().Str("from", c.RemoteAddr().String()).Err(err).Str("parse_error", perr.Error()).Msg("unparseable sip stream; closing")
	} else if _, werr := c.Conn.Write(res); werr == nil {
		c.g.answered.Add(1)
		c.g.log.Info().Str("from", c.RemoteAddr().String()).Str("status", statusOf(res)).Str("parse_error", perr.Error()).Msg("unparseable sip request on tcp answered; closing")
	}
	c.pending = c.pending[:c.ready]
	c.par.Close()
	c.failed = true
	c.lingerUntil = time.Now().Add(failLinger)
	return true
}

// Errors of answerUnparsed: why no response can be addressed.
var (
	errNotRequest = errors.New("not a sip request")
	errNoVia      = errors.New("no usable Via")
	errNoCSeq     = errors.New("no CSeq")
)

// answerUnparsed builds the response to a request sipgo could not parse,
// from its raw text: the status from the request line, Via, From, To,
// Call-ID and CSeq copied as written, and the parse error in a Warning. With
// from set (UDP), it also returns where to send it: the source address, at
// the top Via's port unless Via asks for rport (RFC 3581), as sipgo answers
// any request.
func answerUnparsed(data []byte, from net.Addr, local net.Addr, perr error) ([]byte, net.Addr, error) {
	raw := splitRaw(data)
	if raw.response || raw.method == "" {
		return nil, nil, errNotRequest
	}
	if len(raw.vias) == 0 {
		return nil, nil, errNoVia
	}
	sentBy, err := parseSentBy(raw.vias[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errNoVia, err)
	}
	if raw.cseq == "" {
		return nil, nil, errNoCSeq
	}

	var dst net.Addr
	if from != nil {
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			return nil, nil, fmt.Errorf("source %s is not a udp address", from)
		}
		port := sentBy.port
		if port == 0 {
			port = sip.DefaultUdpPort
		}
		if sentBy.rport {
			port = ua.Port
		}
		dst = &net.UDPAddr{IP: ua.IP, Port: port, Zone: ua.Zone}
	}

	code := sip.StatusBadRequest
	switch {
	case raw.version != "" && !strings.EqualFold(raw.version, "SIP/2.0"):
		code = sip.StatusVersionNotSupported
	case raw.scheme != "" && !knownScheme(raw.scheme):
		code = StatusUnsupportedURIScheme
	}

	var b strings.Builder
	b.Grow(len(data)/2 + 128)
	b.WriteString("SIP/2.0 " + strconv.Itoa(code) + " " + ReasonPhrase(code) + "\r\n")
	for _, v := range raw.vias {
		b.WriteString("Via: " + v + "\r\n")
	}
	if raw.from != "" {
		b.WriteString("From: " + raw.from + "\r\n")
	}
	if raw.to != "" {
		b.WriteString("To: " + raw.to)
		if !hasTag(raw.to) {
			b.WriteString(";tag=" + sip.GenerateTagN(16))
		}
		b.WriteString("\r\n")
	}
	if raw.callID != "" {
		b.WriteString("Call-ID: " + raw.callID + "\r\n")
	}
	b.WriteString("CSeq: " + raw.cseq + "\r\n")
	agent := "xbridge"
	if local != nil {
		agent = local.String()
	}
	b.WriteString("Warning: 399 " + agent + " \"" + warningText(perr) + "\"\r\n")
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String()), dst, nil
}

// rawRequest is what can be read off a message sipgo could not parse.
type rawRequest struct {
	response bool
	method   string
	scheme   string // of the Request-URI, when it has a well-formed one
	version  string

	vias                   []string
	from, to, callID, cseq string
}

// splitRaw reads the start line and the headers a response needs, unfolding
// continuation lines. The header section ends at the first empty line or at
// the end of data (RFC 4475 baddn ends without one).
func splitRaw(data []byte) rawRequest {
	var r rawRequest
	head := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		head = data[:i]
	}
	lines := strings.Split(string(head), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:] // CRLF before the start line (RFC 3261 7.5)
	}
	if len(lines) == 0 {
		return r
	}
	parseStartLine(&r, lines[0])
	if r.response || r.method == "" {
		return r
	}
	var name, value string
	flush := func() {
		if name == "" {
			return
		}
		value = clean(value)
		switch name {
		case "via", "v":
			if value != "" {
				r.vias = append(r.vias, value)
			}
		case "from", "f":
			r.from = firstOf(r.from, value)
		case "to", "t":
			r.to = firstOf(r.to, value)
		case "call-id", "i":
			r.callID = firstOf(r.callID, value)
		case "cseq":
			r.cseq = firstOf(r.cseq, value)
		}
		name, value = "", ""
	}
	for _, line := range lines[1:] {
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" {
				value += " " + strings.TrimSpace(line)
			}
			continue
		}
		flush()
		n, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(n))
		value = strings.TrimSpace(v)
	}
	flush()
	return r
}

func parseStartLine(r *rawRequest, line string) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return
	}
	if strings.HasPrefix(strings.ToUpper(fields[0]), "SIP/") {
		r.response = true
		return
	}
	if !isToken(fields[0]) {
		return
	}
	r.method = fields[0]
	if len(fields) < 2 {
		return
	}
	if last := fields[len(fields)-1]; len(fields) >= 3 && strings.HasPrefix(strings.ToUpper(last), "SIP/") {
		r.version = last
	}
	if scheme, _, ok := strings.Cut(fields[1], ":"); ok && isScheme(scheme) {
		r.scheme = strings.ToLower(scheme)
	}
}

func firstOf(have, v string) string {
	if have != "" {
		return have
	}
	return v
}

// clean keeps a copied value from breaking the response's framing.
func clean(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return strings.TrimSpace(v)
}

type sentBy struct {
	host  string
	port  int // 0: not given
	rport bool
}

// parseSentBy reads the sent-by and rport of a Via value such as
// "SIP / 2.0 / UDP host:5060;branch=z9hG4bK1;rport".
func parseSentBy(via string) (sentBy, error) {
	var s sentBy
	if i := strings.IndexByte(via, ','); i >= 0 {
		via = via[:i] // the first of several values
	}
	proto, params, _ := strings.Cut(via, ";")
	// sent-protocol is three tokens joined by '/', LWS allowed around them.
	for range 2 {
		i := strings.IndexByte(proto, '/')
		if i < 0 {
			return s, errors.New("no sent-protocol")
		}
		proto = proto[i+1:]
	}
	fields := strings.Fields(proto)
	if len(fields) < 2 {
		return s, errors.New("no sent-by")
	}
	host, port := fields[1], ""
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return s, fmt.Errorf("bad sent-by %q", fields[1])
		}
		host, port = host[:end+1], strings.TrimPrefix(host[end+1:], ":")
	} else if h, p, ok := strings.Cut(host, ":"); ok {
		host, port = h, p
	}
	if host == "" || strings.ContainsAny(host, "\"<>") {
		return s, fmt.Errorf("bad sent-by %q", fields[1])
	}
	s.host = host
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return s, fmt.Errorf("bad sent-by port %q", port)
		}
		s.port = p
	}
	for p := range strings.SplitSeq(params, ";") {
		k, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "rport") {
			s.rport = true
		}
	}
	return s, nil
}

func hasTag(to string) bool {
	if strings.Count(to, "\"")%2 != 0 {
		return true // an open quote would swallow the tag; leave it as written
	}
	_, params, ok := strings.Cut(to, ">")
	if !ok {
		params = to
	}
	return strings.Contains(strings.ToLower(params), ";tag=") || strings.Contains(strings.ToLower(params), "; tag")
}

// warningText is the parse error as a Warning's quoted text: printable ASCII
// without quotes or backslashes, at most 120 bytes.
func warningText(err error) string {
	msg := "malformed request"
	if err != nil {
		msg = err.Error()
	}
	out := make([]byte, 0, min(len(msg), 120))
	for i := 0; i < len(msg) && len(out) < 120; i++ {
		c := msg[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}

func statusOf(res []byte) string {
	line, _, _ := bytes.Cut(res, []byte("\r\n"))
	return string(bytes.TrimPrefix(line, []byte("SIP/2.0 ")))
}

// isToken reports whether s is an RFC 3261 token (a method name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("-.!%*_+`'~", rune(c)) {
			return false
		}
	}
	return true
}

// isScheme reports whether s is an RFC 3986 scheme.
func isScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func knownScheme(s string) bool {
	switch strings.ToLower(s) {
	case "sip", "sips", "tel":
		return true
	}
	return false
}
