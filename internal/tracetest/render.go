package tracetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// lookup resolves a variable for a template belonging to side. Order:
// addresses fixed for the run, another side's variable ("trunk.call_id"),
// captures, then the side's own variables, generating a fresh value the
// first time a generated name (call_id, tag, branch, rtp_port) is used.
func (ru *run) lookup(side Side, name string) (string, error) {
	switch name {
	case "engine":
		return ru.engine.String(), nil
	case "engine.host":
		return ru.engine.IP.String(), nil
	case "engine.port":
		return strconv.Itoa(ru.engine.Port), nil
	case "carrier":
		return ru.sides[Carrier].ep.addr(), nil
	case "trunk":
		return ru.sides[Trunk].ep.addr(), nil
	case "ip":
		return ru.r.ip, nil
	}
	if prefix, rest, ok := strings.Cut(name, "."); ok && (prefix == "carrier" || prefix == "trunk") {
		other := ru.sides[Carrier]
		if prefix == "trunk" {
			other = ru.sides[Trunk]
		}
		switch rest {
		case "host":
			return ru.r.ip, nil
		case "port":
			return strconv.Itoa(other.ep.port()), nil
		}
		if v, ok := other.vars[rest]; ok {
			return v, nil
		}
		return "", fmt.Errorf("[%s] is not set: the %s has not used or received it yet", name, prefix)
	}
	if v, ok := ru.captures[name]; ok {
		return v, nil
	}
	st := ru.sides[side]
	if v, ok := st.vars[name]; ok {
		return v, nil
	}
	if !generated(name) {
		return "", fmt.Errorf("[%s] is not set yet on the %s", name, side)
	}
	v, err := ru.generate(st, name)
	if err != nil {
		return "", err
	}
	st.vars[name] = v
	return v, nil
}

func (ru *run) generate(st *sideState, name string) (string, error) {
	base, _, _ := strings.Cut(name, ":")
	switch base {
	case "call_id":
		return randomHex(16) + "@" + ru.r.ip, nil
	case "tag":
		return randomHex(6), nil
	case "branch":
		return "z9hG4bK" + randomHex(10), nil
	}
	// rtp_port: a real socket, so media the relay sends has somewhere to go
	// and the port cannot be handed to anyone else during the run.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ru.r.ip)})
	if err != nil {
		return "", fmt.Errorf("rtp socket: %w", err)
	}
	st.rtp = append(st.rtp, conn)
	go drain(conn)
	return strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port), nil
}

func drain(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			return
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// render substitutes every [variable] in tmpl; quote escapes each value for
// use inside a regular expression.
func (ru *run) render(side Side, tmpl string, quote bool) (string, error) {
	var firstErr error
	out := varRef.ReplaceAllStringFunc(tmpl, func(ref string) string {
		v, err := ru.lookup(side, ref[1:len(ref)-1])
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return ref
		}
		if quote {
			return regexp.QuoteMeta(v)
		}
		return v
	})
	return out, firstErr
}

// assemble turns a rendered template ("\n"-separated, a blank line before
// the body) into wire form: CRLF line ends and a Content-Length that
// matches the body, replacing any the template wrote.
func assemble(text string) []byte {
	lines := strings.Split(text, "\n")
	head, body := lines, []string(nil)
	for i, l := range lines {
		if l == "" {
			head, body = lines[:i], lines[i+1:]
			break
		}
	}
	var b strings.Builder
	for _, l := range head {
		if isContentLength(l) {
			continue
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	bodyText := ""
	if len(body) > 0 {
		bodyText = strings.Join(body, "\r\n") + "\r\n"
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(bodyText), bodyText)
	return []byte(b.String())
}

func isContentLength(line string) bool {
	name, _, ok := strings.Cut(line, ":")
	return ok && canonicalHeader(strings.TrimSpace(name)) == "content-length"
}

// compactHeaders maps RFC 3261 compact header names to their full form.
var compactHeaders = map[string]string{
	"c": "content-type", "e": "content-encoding", "f": "from", "i": "call-id",
	"k": "supported", "l": "content-length", "m": "contact", "s": "subject",
	"t": "to", "v": "via",
}

// canonicalHeader is a header name for comparison: lower case, compact
// forms expanded.
func canonicalHeader(name string) string {
	n := strings.ToLower(name)
	if full, ok := compactHeaders[n]; ok {
		return full
	}
	return n
}

// rawHeaders returns the header lines of a raw message whose canonical name
// is in names, in order and verbatim (folded lines joined).
func rawHeaders(raw string, names ...string) []string {
	var out []string
	head, _, _ := strings.Cut(strings.ReplaceAll(raw, "\r\n", "\n"), "\n\n")
	lines := strings.Split(head, "\n")
	for i := 1; i < len(lines); i++ {
		l := lines[i]
		for i+1 < len(lines) && isIndented(lines[i+1]) {
			i++
			l += " " + strings.TrimSpace(lines[i])
		}
		name, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		c := canonicalHeader(strings.TrimSpace(name))
		for _, n := range names {
			if c == n {
				out = append(out, l)
			}
		}
	}
	return out
}
