package tracetest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// received is one datagram a side took off its socket, parsed.
type received struct {
	raw  string
	msg  sip.Message
	from string
}

func (rc *received) request() (*sip.Request, bool) {
	r, ok := rc.msg.(*sip.Request)
	return r, ok
}

// describe is the message's start line, for reports.
func (rc *received) describe() string {
	line, _, _ := strings.Cut(rc.raw, "\r\n")
	return line
}

// cseqMethod is the method in the message's CSeq.
func cseqMethod(m sip.Message) string {
	if c := m.CSeq(); c != nil {
		return string(c.MethodName)
	}
	return ""
}

// kindMatches tells whether a message is what an expect names: the method
// of a request, or the status (and CSeq method) of a response.
func kindMatches(st step, rc *received) bool {
	switch m := rc.msg.(type) {
	case *sip.Request:
		return string(m.Method) == st.what
	case *sip.Response:
		return strconv.Itoa(m.StatusCode) == st.what && (st.to == "" || cseqMethod(m) == st.to)
	}
	return false
}

// eval returns the value a subject names in a message and whether the
// message has it at all. Several headers of one name give their values
// joined by ", "; several SDP lines, by newlines.
func eval(s subject, rc *received) (string, bool) {
	switch s.kind {
	case "message":
		return rc.raw, true
	case "body":
		return string(rc.msg.Body()), len(rc.msg.Body()) > 0
	case "status", "reason":
		res, ok := rc.msg.(*sip.Response)
		if !ok {
			return "", false
		}
		if s.kind == "status" {
			return strconv.Itoa(res.StatusCode), true
		}
		return res.Reason, true
	case "ruri":
		req, ok := rc.request()
		if !ok {
			return "", false
		}
		u := req.Recipient
		switch s.part {
		case "":
			f := strings.Fields(rc.describe())
			if len(f) > 1 {
				return f[1], true
			}
			return u.String(), true
		case "user":
			return u.User, u.User != ""
		case "host":
			return u.Host, true
		case "uri":
			return u.String(), true
		}
		v, ok := u.UriParams.Get(s.part)
		return v, ok
	case "sdp":
		return sdpValue(string(rc.msg.Body()), s.name)
	}
	var vals []string
	for _, h := range allHeaders(rc.msg) {
		if canonicalHeader(h.Name()) != canonicalHeader(s.name) {
			continue
		}
		if v, ok := headerPart(h.Value(), s.part); ok {
			vals = append(vals, v)
		}
	}
	return strings.Join(vals, ", "), len(vals) > 0
}

// headerPart picks part of a header value: the URI's user, host, the URI,
// the display name, or a header parameter (tag, branch, cause...).
func headerPart(value, part string) (string, bool) {
	if part == "" {
		return value, true
	}
	if uriParts[part] {
		var u sip.Uri
		display, err := sip.ParseAddressValue(value, &u, nil)
		if err != nil {
			return "", false
		}
		switch part {
		case "user":
			return u.User, u.User != ""
		case "host":
			return u.Host, true
		case "uri":
			return u.String(), true
		}
		return display, display != ""
	}
	return headerParam(value, part)
}

// headerParam finds ;name=value after the address (past '>' when there is
// one), with quotes around the value removed. A flag parameter gives "".
func headerParam(value, name string) (string, bool) {
	if i := strings.LastIndexByte(value, '>'); i >= 0 {
		value = value[i+1:]
	}
	_, params, ok := strings.Cut(value, ";")
	if !ok {
		return "", false
	}
	for _, p := range splitParams(params) {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.Trim(strings.TrimSpace(v), `"`), true
		}
	}
	return "", false
}

// splitParams splits on ';' outside quoted strings.
func splitParams(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// sdpValue reads an SDP body: "port" is the first audio m= port, "addr" the
// connection address that applies to it, "x=" the values of every x= line.
func sdpValue(body, field string) (string, bool) {
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	switch field {
	case "port":
		for _, l := range lines {
			if strings.HasPrefix(l, "m=audio ") {
				f := strings.Fields(l)
				if len(f) > 1 {
					return strings.SplitN(f[1], "/", 2)[0], true
				}
			}
		}
		return "", false
	case "addr":
		session, media, inAudio := "", "", false
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "m="):
				inAudio = strings.HasPrefix(l, "m=audio ") && media == ""
			case strings.HasPrefix(l, "c="):
				f := strings.Fields(l)
				if len(f) != 3 {
					continue
				}
				switch {
				case inAudio:
					media = f[2]
				case session == "" && media == "":
					session = f[2]
				}
			}
		}
		if media != "" {
			return media, true
		}
		return session, session != ""
	}
	var vals []string
	for _, l := range lines {
		if strings.HasPrefix(l, field) {
			vals = append(vals, strings.TrimPrefix(l, field))
		}
	}
	return strings.Join(vals, "\n"), len(vals) > 0
}

// compare applies an operator; want is already rendered.
func compare(op, got string, present bool, want string) bool {
	switch op {
	case "==":
		return got == want
	case "!=":
		return got != want
	case "contains":
		return present && strings.Contains(got, want)
	case "!contains":
		return !strings.Contains(got, want)
	case "matches":
		re, err := regexp.Compile(want)
		return err == nil && re.MatchString(got)
	}
	return false
}

// runChecks applies an expect's checks to a message, storing captures. It
// returns one line per failed check.
func (ru *run) runChecks(st step, rc *received) ([]string, error) {
	var failed []string
	for _, c := range st.checks {
		switch c.op {
		case "absent", "present":
			v, ok := eval(c.subject, rc)
			if ok != (c.op == "present") {
				failed = append(failed, fmt.Sprintf("line %d: %s  (got %q)", c.line, c.text, v))
			}
			continue
		case "capture":
			v, ok := eval(c.subject, rc)
			if !ok {
				failed = append(failed, fmt.Sprintf("line %d: %s  (nothing to capture)", c.line, c.text))
				continue
			}
			ru.captures[c.value] = v
			continue
		}
		want, err := ru.render(st.side, c.value, c.op == "matches")
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", ru.tr.Name, c.line, err)
		}
		got, ok := eval(c.subject, rc)
		if !compare(c.op, got, ok, want) {
			detail := fmt.Sprintf("got %q", got)
			if !ok {
				detail = "not in the message"
			}
			failed = append(failed, fmt.Sprintf("line %d: %s  (%s; want %s %q)", c.line, c.text, detail, c.op, want))
		}
	}
	return failed, nil
}

// allHeaders lists a message's headers in order; sip.Message does not
// expose them, the concrete types do.
func allHeaders(m sip.Message) []sip.Header {
	if hs, ok := m.(interface{ Headers() []sip.Header }); ok {
		return hs.Headers()
	}
	return nil
}
