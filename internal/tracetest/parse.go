package tracetest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultExpectTimeout bounds an expect that names no "within".
const DefaultExpectTimeout = 5 * time.Second

// maxDuration keeps a trace from asking for waits no test could sit through.
const maxDuration = 2 * time.Minute

// ParseFile reads and parses one trace file.
func ParseFile(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return Parse(name, f)
}

// Parse parses a trace (format: testdata/traces/README.md). Errors name the
// line, as name:line.
func Parse(name string, r io.Reader) (*Trace, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", name, err)
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("trace %s: larger than 1 MiB", name)
	}
	p := &parser{name: name, tr: &Trace{Name: name}, bindings: map[string]bool{}, captures: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		p.lines = append(p.lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace %s: %w", name, err)
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.tr, nil
}

type parser struct {
	name     string
	lines    []string
	i        int // index of the next line
	tr       *Trace
	bindings map[string]bool
	captures map[string]int // name -> line it was captured on
}

func (p *parser) errf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.name, line, fmt.Sprintf(format, args...))
}

func isIndented(s string) bool { return s != "" && (s[0] == ' ' || s[0] == '\t') }

func (p *parser) parse() error {
	for p.i < len(p.lines) {
		lineNo := p.i + 1
		line := p.lines[p.i]
		p.i++
		switch {
		case strings.TrimSpace(line) == "", strings.HasPrefix(line, "#"):
			continue
		case isIndented(line):
			return p.errf(lineNo, "indented line outside a step (indent only the message or checks under a step)")
		}
		if err := p.directive(lineNo, strings.Fields(line), line); err != nil {
			return err
		}
	}
	if len(p.tr.steps) == 0 {
		return fmt.Errorf("%s: no steps", p.name)
	}
	return nil
}

// block returns the indented lines after a step line, de-indented, with
// blank lines inside kept and trailing blank lines dropped.
func (p *parser) block() (lines []string, first int, err error) {
	indent := ""
	for p.i < len(p.lines) {
		line := p.lines[p.i]
		if strings.TrimSpace(line) == "" {
			lines = append(lines, "")
			p.i++
			continue
		}
		if !isIndented(line) {
			break
		}
		if indent == "" {
			indent = line[:len(line)-len(strings.TrimLeft(line, " \t"))]
			first = p.i + 1
		}
		if !strings.HasPrefix(line, indent) {
			return nil, 0, p.errf(p.i+1, "indentation differs from the block's first line")
		}
		lines = append(lines, line[len(indent):])
		p.i++
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	// Leading blank lines belong to no one.
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	return lines, first, nil
}

func (p *parser) directive(lineNo int, f []string, line string) error {
	header := len(p.tr.steps) == 0
	switch f[0] {
	case "trace":
		if !header {
			return p.errf(lineNo, "%q belongs in the header, before the first step", f[0])
		}
		p.tr.Title = strings.TrimSpace(strings.TrimPrefix(line, "trace"))
		return nil
	case "skip":
		if !header {
			return p.errf(lineNo, "skip belongs in the header")
		}
		p.tr.Skip = strings.TrimSpace(strings.TrimPrefix(line, "skip"))
		if p.tr.Skip == "" {
			return p.errf(lineNo, "skip needs a reason")
		}
		return nil
	case "binding":
		if !header {
			return p.errf(lineNo, "binding belongs in the header; use \"api create binding\" in steps")
		}
		b, err := p.parseBinding(lineNo, f[1:])
		if err != nil {
			return err
		}
		p.tr.Bindings = append(p.tr.Bindings, b)
		return nil
	case "engine":
		if !header {
			return p.errf(lineNo, "engine options belong in the header")
		}
		return p.parseEngine(lineNo, f[1:])
	case "hide":
		if !header {
			return p.errf(lineNo, "hide belongs in the header")
		}
		// hide TEXT from SIDE
		if len(f) != 4 || f[2] != "from" {
			return p.errf(lineNo, "want: hide TEXT from carrier|trunk")
		}
		side, err := p.side(lineNo, f[3])
		if err != nil {
			return err
		}
		if err := p.checkVars(lineNo, f[1]); err != nil {
			return err
		}
		p.tr.hidden = append(p.tr.hidden, hidden{line: lineNo, side: side, text: f[1]})
		return nil
	case "wait":
		if len(f) != 2 {
			return p.errf(lineNo, "want: wait DURATION")
		}
		d, err := p.duration(lineNo, f[1])
		if err != nil {
			return err
		}
		p.tr.steps = append(p.tr.steps, step{line: lineNo, kind: stepWait, within: d})
		return p.noBlock("wait")
	case "expect":
		// expect no message on SIDE for DURATION
		if len(f) != 7 || f[1] != "no" || f[2] != "message" || f[3] != "on" || f[5] != "for" {
			return p.errf(lineNo, "want: expect no message on carrier|trunk for DURATION")
		}
		side, err := p.side(lineNo, f[4])
		if err != nil {
			return err
		}
		d, err := p.duration(lineNo, f[6])
		if err != nil {
			return err
		}
		p.tr.steps = append(p.tr.steps, step{line: lineNo, kind: stepSilence, side: side, within: d})
		return p.noBlock("expect no message")
	case "api":
		return p.parseAPI(lineNo, f)
	case "carrier", "trunk":
		side, _ := p.side(lineNo, f[0])
		if len(f) < 3 {
			return p.errf(lineNo, "want: %s sends|replies|expects ...", f[0])
		}
		switch f[1] {
		case "sends":
			return p.parseSend(lineNo, side, f[2:])
		case "replies":
			return p.parseReply(lineNo, side, f[2:])
		case "expects":
			return p.parseExpect(lineNo, side, f[2:])
		}
		return p.errf(lineNo, "unknown action %q (want sends, replies or expects)", f[1])
	}
	return p.errf(lineNo, "unknown directive %q", f[0])
}

func (p *parser) noBlock(what string) error {
	lines, first, err := p.block()
	if err != nil {
		return err
	}
	if len(lines) > 0 {
		return p.errf(first, "%s takes no indented block", what)
	}
	return nil
}

func (p *parser) side(lineNo int, s string) (Side, error) {
	switch s {
	case "carrier":
		return Carrier, nil
	case "trunk":
		return Trunk, nil
	}
	return 0, p.errf(lineNo, "unknown side %q (want carrier or trunk)", s)
}

func (p *parser) duration(lineNo int, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxDuration {
		return 0, p.errf(lineNo, "bad duration %q (want e.g. 500ms or 1.5s, at most %s)", s, maxDuration)
	}
	return d, nil
}

var digits = regexp.MustCompile(`^[0-9]{3,20}$`)

// parseBinding reads "NAME x=.. a=.. b=.. ttl=.." (AXB) or
// "NAME model=axe x=.. a=.. extension=.. ttl=..".
func (p *parser) parseBinding(lineNo int, f []string) (Binding, error) {
	const usage = "want: binding NAME [model=axb] x=DIGITS a=DIGITS b=DIGITS ttl=DURATION, or NAME model=axe x=DIGITS a=DIGITS extension=DIGITS ttl=DURATION"
	if len(f) < 5 || len(f) > 6 {
		return Binding{}, p.errf(lineNo, usage)
	}
	b := Binding{Name: f[0]}
	if !varName.MatchString(b.Name) {
		return Binding{}, p.errf(lineNo, "bad binding name %q", b.Name)
	}
	if p.bindings[b.Name] {
		return Binding{}, p.errf(lineNo, "binding %q defined twice", b.Name)
	}
	seen := map[string]bool{}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return Binding{}, p.errf(lineNo, "bad or repeated field %q", kv)
		}
		seen[k] = true
		switch k {
		case "x", "a", "b":
			if !digits.MatchString(v) {
				return Binding{}, p.errf(lineNo, "%s=%q: want canonical digits", k, v)
			}
			switch k {
			case "x":
				b.X = v
			case "a":
				b.A = v
			default:
				b.B = v
			}
		case "model":
			switch v {
			case "axb":
			case "axe":
				b.Model = v
			default:
				return Binding{}, p.errf(lineNo, "model=%q: want axb or axe", v)
			}
		case "extension":
			if !extension.MatchString(v) {
				return Binding{}, p.errf(lineNo, "extension=%q: want 1 to 6 digits", v)
			}
			b.Extension = v
		case "ttl":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return Binding{}, p.errf(lineNo, "bad ttl %q (want e.g. 2s or 1h)", v)
			}
			b.TTL = d
		default:
			return Binding{}, p.errf(lineNo, "unknown binding field %q", k)
		}
	}
	switch {
	case b.X == "" || b.A == "" || b.TTL == 0:
		return Binding{}, p.errf(lineNo, "binding needs x, a and ttl")
	case b.Model == "axe" && (b.B != "" || b.Extension == ""):
		return Binding{}, p.errf(lineNo, "an axe binding has an extension and no b")
	case b.Model == "" && (b.B == "" || b.Extension != ""):
		return Binding{}, p.errf(lineNo, "an axb binding has a b and no extension")
	}
	p.bindings[b.Name] = true
	return b, nil
}

var extension = regexp.MustCompile(`^[0-9]{1,6}$`)

func (p *parser) parseEngine(lineNo int, f []string) error {
	if len(f) == 0 {
		return p.errf(lineNo, "want: engine answer_timeout=DURATION prompts=LANG first_digit=DURATION inter_digit=DURATION tries=N (any of them)")
	}
	for _, kv := range f {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "answer_timeout", "first_digit", "inter_digit":
			d, err := p.duration(lineNo, v)
			if err != nil {
				return err
			}
			switch k {
			case "answer_timeout":
				p.tr.Engine.AnswerTimeout = d
			case "first_digit":
				p.tr.Engine.FirstDigit = d
			default:
				p.tr.Engine.InterDigit = d
			}
		case "prompts":
			if !varName.MatchString(v) {
				return p.errf(lineNo, "prompts=%q: want a language directory such as en", v)
			}
			p.tr.Engine.Prompts = v
		case "tries":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 9 {
				return p.errf(lineNo, "tries=%q: want 1 to 9", v)
			}
			p.tr.Engine.Tries = n
		default:
			return p.errf(lineNo, "unknown engine option %q", k)
		}
	}
	return nil
}

func (p *parser) parseAPI(lineNo int, f []string) error {
	if len(f) < 4 || f[2] != "binding" {
		return p.errf(lineNo, "want: api create|delete binding NAME ...")
	}
	switch f[1] {
	case "delete":
		if len(f) != 4 {
			return p.errf(lineNo, "want: api delete binding NAME")
		}
		if !p.bindings[f[3]] {
			return p.errf(lineNo, "unknown binding %q", f[3])
		}
		p.tr.steps = append(p.tr.steps, step{line: lineNo, kind: stepDelete, binding: Binding{Name: f[3]}})
	case "create":
		b, err := p.parseBinding(lineNo, f[3:])
		if err != nil {
			return err
		}
		p.tr.steps = append(p.tr.steps, step{line: lineNo, kind: stepCreate, binding: b})
	default:
		return p.errf(lineNo, "unknown api call %q (want create or delete)", f[1])
	}
	return p.noBlock("api")
}

var (
	methodName = regexp.MustCompile(`^[A-Z]{2,16}$`)
	statusCode = regexp.MustCompile(`^[1-6][0-9][0-9]$`)
)

// parseSend reads "SIDE sends WHAT" and its message.
func (p *parser) parseSend(lineNo int, side Side, f []string) error {
	if len(f) != 1 || !(methodName.MatchString(f[0]) || statusCode.MatchString(f[0])) {
		return p.errf(lineNo, "want: %s sends METHOD|STATUS", side)
	}
	lines, first, err := p.block()
	if err != nil {
		return err
	}
	if len(lines) == 0 {
		return p.errf(lineNo, "sends needs the message, indented under it")
	}
	start := strings.Fields(lines[0])
	switch {
	case methodName.MatchString(f[0]):
		if len(start) != 3 || start[0] != f[0] || start[2] != "SIP/2.0" {
			return p.errf(first, "start line %q is not a %s request", lines[0], f[0])
		}
	default:
		if len(start) < 2 || start[0] != "SIP/2.0" || start[1] != f[0] {
			return p.errf(first, "start line %q is not a %s response", lines[0], f[0])
		}
	}
	tmpl := strings.Join(lines, "\n")
	if err := p.checkVars(first, tmpl); err != nil {
		return err
	}
	p.tr.steps = append(p.tr.steps, step{line: lineNo, kind: stepSend, side: side, what: f[0], template: tmpl, tmplLine: first})
	return nil
}

// parseReply reads "SIDE replies CODE [REASON...] [to METHOD]" and the
// optional extra headers and body.
func (p *parser) parseReply(lineNo int, side Side, f []string) error {
	if !statusCode.MatchString(f[0]) {
		return p.errf(lineNo, "want: %s replies STATUS [reason phrase] [to METHOD]", side)
	}
	st := step{line: lineNo, kind: stepReply, side: side, what: f[0]}
	rest := f[1:]
	if n := len(rest); n >= 2 && rest[n-2] == "to" && methodName.MatchString(rest[n-1]) {
		st.to = rest[n-1]
		rest = rest[:n-2]
	}
	st.reason = strings.Join(rest, " ")
	if st.reason == "" {
		st.reason = reasonPhrase(f[0])
	}
	lines, first, err := p.block()
	if err != nil {
		return err
	}
	st.template = strings.Join(lines, "\n")
	st.tmplLine = first
	if err := p.checkVars(first, st.template); err != nil {
		return err
	}
	p.tr.steps = append(p.tr.steps, st)
	return nil
}

// parseExpect reads "SIDE expects WHAT [to METHOD] [within DURATION]" and
// the checks under it.
func (p *parser) parseExpect(lineNo int, side Side, f []string) error {
	usage := p.errf(lineNo, "want: %s expects METHOD|STATUS [to METHOD] [within DURATION]", side)
	if !(methodName.MatchString(f[0]) || statusCode.MatchString(f[0])) {
		return usage
	}
	st := step{line: lineNo, kind: stepExpect, side: side, what: f[0], within: DefaultExpectTimeout}
	rest := f[1:]
	for len(rest) > 0 {
		if len(rest) < 2 {
			return usage
		}
		switch rest[0] {
		case "to":
			if !statusCode.MatchString(f[0]) || !methodName.MatchString(rest[1]) || st.to != "" {
				return usage
			}
			st.to = rest[1]
		case "within":
			d, err := p.duration(lineNo, rest[1])
			if err != nil {
				return err
			}
			st.within = d
		default:
			return usage
		}
		rest = rest[2:]
	}
	lines, first, err := p.block()
	if err != nil {
		return err
	}
	for i, l := range lines {
		if l == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		c, err := p.parseCheck(first+i, l)
		if err != nil {
			return err
		}
		st.checks = append(st.checks, c)
	}
	p.tr.steps = append(p.tr.steps, st)
	return nil
}

var ops = map[string]bool{"==": true, "!=": true, "contains": true, "!contains": true, "matches": true}

// parseCheck reads one matcher: "SUBJECT OP VALUE", "absent NAME",
// "present NAME" or "capture SUBJECT as NAME".
func (p *parser) parseCheck(lineNo int, line string) (check, error) {
	text := strings.TrimSpace(line)
	f := strings.Fields(text)
	c := check{line: lineNo, text: text}
	switch f[0] {
	case "absent", "present":
		if len(f) != 2 {
			return c, p.errf(lineNo, "want: %s HEADER", f[0])
		}
		c.op, c.subject = f[0], subject{kind: "header", name: f[1]}
		return c, nil
	case "capture":
		if len(f) < 4 || f[len(f)-2] != "as" {
			return c, p.errf(lineNo, "want: capture SUBJECT as NAME")
		}
		s, err := p.parseSubject(lineNo, f[1:len(f)-2])
		if err != nil {
			return c, err
		}
		name := f[len(f)-1]
		if err := p.captureName(lineNo, name); err != nil {
			return c, err
		}
		c.op, c.subject, c.value = "capture", s, name
		return c, nil
	}
	opAt := -1
	for i, w := range f {
		if ops[w] {
			opAt = i
			break
		}
	}
	if opAt < 1 {
		return c, p.errf(lineNo, "no operator in check %q (want ==, !=, contains, !contains or matches)", text)
	}
	s, err := p.parseSubject(lineNo, f[:opAt])
	if err != nil {
		return c, err
	}
	c.subject, c.op = s, f[opAt]
	// The value is the rest of the line as written, so it may hold spaces.
	rest := text
	for i := 0; i <= opAt; i++ {
		rest = strings.TrimLeft(rest, " \t")
		rest = rest[len(f[i]):]
	}
	c.value = strings.TrimSpace(rest)
	if c.value == `""` {
		c.value = ""
	}
	if c.op == "matches" {
		if _, err := regexp.Compile(c.value); err != nil {
			return c, p.errf(lineNo, "bad regexp: %v", err)
		}
	}
	if err := p.checkVars(lineNo, c.value); err != nil {
		return c, err
	}
	return c, nil
}

var uriParts = map[string]bool{"user": true, "host": true, "uri": true, "display": true}

func (p *parser) parseSubject(lineNo int, f []string) (subject, error) {
	if len(f) == 0 {
		return subject{}, p.errf(lineNo, "missing subject")
	}
	one := func(s subject) (subject, error) {
		if len(f) != 1 {
			return s, p.errf(lineNo, "%q takes no part", f[0])
		}
		return s, nil
	}
	switch f[0] {
	case "status", "reason", "body", "message":
		return one(subject{kind: f[0]})
	case "R-URI":
		s := subject{kind: "ruri"}
		if len(f) > 2 {
			return s, p.errf(lineNo, "want: R-URI [user|host|uri|PARAM]")
		}
		if len(f) == 2 {
			s.part = f[1]
		}
		return s, nil
	case "sdp":
		if len(f) != 2 || !(f[1] == "port" || f[1] == "addr" || sdpField.MatchString(f[1])) {
			return subject{}, p.errf(lineNo, "want: sdp port|addr|X= (an SDP line type such as c= or m=)")
		}
		return subject{kind: "sdp", name: f[1]}, nil
	case "header":
		f = f[1:]
		if len(f) == 0 {
			return subject{}, p.errf(lineNo, "want: header NAME [part]")
		}
	}
	if len(f) > 2 || !headerName.MatchString(f[0]) {
		return subject{}, p.errf(lineNo, "want: HEADER [user|host|uri|display|PARAM], got %q", strings.Join(f, " "))
	}
	s := subject{kind: "header", name: f[0]}
	if len(f) == 2 {
		s.part = f[1]
	}
	return s, nil
}

var (
	sdpField   = regexp.MustCompile(`^[a-z]=$`)
	headerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.!%*_+~'-]*$`)
	varName    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// varRef is a variable reference in a template. It must start with a
	// letter, so bracketed IPv6 literals ("[::1]") pass through.
	varRef = regexp.MustCompile(`\[([A-Za-z][A-Za-z0-9_.:-]*)\]`)
)

func (p *parser) captureName(lineNo int, name string) error {
	if !varName.MatchString(name) {
		return p.errf(lineNo, "bad capture name %q (lower case letters, digits, _)", name)
	}
	if reserved(name) {
		return p.errf(lineNo, "capture name %q is reserved", name)
	}
	if prev, ok := p.captures[name]; ok {
		return p.errf(lineNo, "%q already captured on line %d", name, prev)
	}
	p.captures[name] = lineNo
	return nil
}

// checkVars rejects references no run could resolve: a name that is
// neither built in, generated, automatic, nor captured on an earlier line.
func (p *parser) checkVars(lineNo int, tmpl string) error {
	for _, m := range varRef.FindAllStringSubmatch(tmpl, -1) {
		name := m[1]
		if side, rest, ok := strings.Cut(name, "."); ok && (side == "carrier" || side == "trunk") {
			name = rest
			if name == "host" || name == "port" {
				continue
			}
		}
		if builtin(name) || generated(name) || automatic(name) {
			continue
		}
		if _, ok := p.captures[name]; ok {
			continue
		}
		return p.errf(lineNo, "unknown variable [%s]", m[1])
	}
	return nil
}

// builtin names are addresses fixed for the whole run.
func builtin(name string) bool {
	switch name {
	case "engine", "engine.host", "engine.port", "carrier", "trunk", "ip":
		return true
	}
	return false
}

// generated names get a fresh value on a side's first use, kept for the run;
// a ":suffix" makes another one (branch:invite, tag:2).
func generated(name string) bool {
	base, _, _ := strings.Cut(name, ":")
	switch base {
	case "call_id", "tag", "branch", "rtp_port":
		return true
	}
	return false
}

// automatic names are set from every message a side receives.
func automatic(name string) bool {
	switch name {
	case "last_call_id", "last_from_tag", "last_to_tag", "last_cseq", "last_contact":
		return true
	}
	return false
}

func reserved(name string) bool {
	base, _, _ := strings.Cut(name, ":")
	return builtin(name) || generated(base) || automatic(name) || base == "carrier" || base == "trunk"
}

func reasonPhrase(code string) string {
	n, _ := strconv.Atoi(code)
	if r, ok := reasons[n]; ok {
		return r
	}
	return "Response"
}

var reasons = map[int]string{
	100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 183: "Session Progress",
	200: "OK", 202: "Accepted", 302: "Moved Temporarily",
	400: "Bad Request", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
	480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 486: "Busy Here",
	487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	503: "Service Unavailable", 603: "Decline",
}
