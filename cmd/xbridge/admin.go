package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The admin commands are thin clients of a running engine's HTTP API, as
// kamcmd is of Kamailio: every command is one request, its answer printed
// as a table (or, with --json, as the API wrote it). They parse with the
// standard flag package like serve and demo do: two levels of commands and
// a dozen flags do not need a CLI library, and one way of reading flags
// keeps --help and the XBRIDGE_* variables the same everywhere.

// adminGroups are the admin commands, by the word that starts them.
var adminGroups = map[string]func(*adminClient, []string) error{
	"pool":    (*adminClient).pool,
	"bind":    (*adminClient).bind,
	"binding": (*adminClient).binding,
	"calls":   (*adminClient).calls,
	"records": (*adminClient).records,
	"events":  (*adminClient).events,
	"lookup":  (*adminClient).lookup,
}

const adminHelp = `Admin commands (clients of a running engine's HTTP API):
  xbridge pool add POOL NUMBER... [--area CODE]
  xbridge pool show POOL
  xbridge bind axb|axn|axe --a NUMBER [--b NUMBER] [--pool P] [--ttl SECONDS] [policy flags]
  xbridge binding show ID
  xbridge binding list [--x X] [--party NUMBER] [--order-id ID] [--limit N]
  xbridge binding patch ID [--b NUMBER] [--ttl SECONDS] [policy flags] [--unset FIELD,...]
  xbridge binding delete ID
  xbridge binding messages ID
  xbridge binding track ID TRACK-NO...
  xbridge calls [hangup CALL-ID [--reason TEXT]]
  xbridge records [--binding ID] [--order-id ID] [--x X] [--since TIME] [--until TIME] [--limit N] [--cursor C]
  xbridge events dead [--limit N] [--cursor C]
  xbridge events retry EVENT-ID
  xbridge lookup TRACK-NO
Every admin command takes --api (host:port or URL; XBRIDGE_API, default
127.0.0.1:8080), --api-token (XBRIDGE_API_TOKEN) and --json.
`

// adminClient is one admin command's connection to the API.
type adminClient struct {
	ctx   context.Context
	base  *url.URL
	token string
	json  bool
	out   io.Writer
	http  *http.Client
}

// runAdmin runs admin command group with args.
func runAdmin(ctx context.Context, group string, args []string, stdout io.Writer, env environ) error {
	cmd := adminGroups[group]
	c := &adminClient{ctx: ctx, out: stdout, http: &http.Client{Timeout: 30 * time.Second}}
	api, _ := env("XBRIDGE_API")
	if api == "" {
		api = "127.0.0.1:8080"
	}
	token, _ := env("XBRIDGE_API_TOKEN")
	// The connection flags may come anywhere among the command's own.
	var rest []string
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") {
			rest = append(rest, args[i])
			continue
		}
		switch name {
		case "api", "api-token":
			if !hasValue {
				if i+1 == len(args) {
					return usageError("flag --%s needs a value", name)
				}
				i++
				value = args[i]
			}
			if name == "api" {
				api = value
			} else {
				token = value
			}
		case "json":
			c.json = !hasValue || value == "true"
		case "h", "help":
			fmt.Fprint(stdout, adminHelp)
			return flag.ErrHelp
		default:
			rest = append(rest, args[i])
		}
	}
	base, err := apiBase(api)
	if err != nil {
		return usageError("--api: %v", err)
	}
	c.base, c.token = base, token
	return cmd(c, rest)
}

// apiBase reads --api: the serve command's host:port, or a URL.
func apiBase(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q is not host:port or an http(s) URL", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// apiFailure is an answer of the API other than success.
type apiFailure struct {
	Status  int
	Code    string `json:"code"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *apiFailure) Error() string {
	s := strconv.Itoa(e.Status) + " " + e.Code
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	return s + ": " + e.Message
}

// do sends one request and returns the answer's body; an answer other than
// 2xx is an *apiFailure.
func (c *adminClient) do(method, path string, query url.Values, body any) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error *apiFailure `json:"error"`
		}
		if json.Unmarshal(out, &e) != nil || e.Error == nil {
			return nil, &apiFailure{Status: res.StatusCode, Code: "http", Message: strings.TrimSpace(string(out))}
		}
		e.Error.Status = res.StatusCode
		return nil, e.Error
	}
	return out, nil
}

// show prints an answer: as it came with --json, else as tables.
func (c *adminClient) show(body []byte) error {
	if c.json {
		_, err := c.out.Write(body)
		return err
	}
	v, err := decodeOrdered(body)
	if err != nil {
		return fmt.Errorf("the API answered something other than JSON: %w", err)
	}
	return writeTables(c.out, v)
}

func (c *adminClient) pool(args []string) error {
	if len(args) == 0 {
		return usageError("pool: want add or show")
	}
	switch args[0] {
	case "add":
		fs := flag.NewFlagSet("pool add", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		area := fs.String("area", "", "area (city or region code) of the numbers")
		pos, err := parseInterleaved(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) < 2 {
			return usageError("pool add: want POOL NUMBER...")
		}
		req := map[string]any{"numbers": pos[1:]}
		if *area != "" {
			req["area"] = *area
		}
		body, err := c.do(http.MethodPost, "/v1/pools/"+url.PathEscape(pos[0])+"/numbers", nil, req)
		if err != nil {
			return err
		}
		return c.show(body)
	case "show":
		if len(args) != 2 {
			return usageError("pool show: want POOL")
		}
		body, err := c.do(http.MethodGet, "/v1/pools/"+url.PathEscape(args[1]), nil, nil)
		if err != nil {
			return err
		}
		return c.show(body)
	}
	return usageError("pool: unknown command %q (want add or show)", args[0])
}

// bindingFlags are the fields of a binding an admin command can set, by
// flag name: each becomes the JSON field of the API, typed as the API
// wants it.
var bindingFlags = []struct {
	flag, field, kind, usage string
}{
	{"a", "a", "number", "party A"},
	{"b", "b", "number", "party B (AXB; optional for AXN)"},
	{"x", "x", "string", "the middle number (default: allocated from the pool)"},
	{"pool", "pool", "string", "pool to allocate X from"},
	{"area", "area", "string", "preferred area of X"},
	{"area-match", "area_match", "string", "strict or loose"},
	{"extension", "extension", "string", "AXE extension (default: allocated)"},
	{"ttl", "ttl_seconds", "int", "lifetime in seconds"},
	{"expires-at", "expires_at", "string", "expiry, RFC 3339"},
	{"order-id", "order_id", "string", "the platform's order ID"},
	{"direction", "direction", "string", "both, a_to_b or b_to_a"},
	{"max-call-seconds", "max_call_seconds", "int", "longest call"},
	{"warn-seconds", "warn_seconds", "int", "warning tone this long before the limit"},
	{"caller-display", "caller_display", "string", "x or real"},
	{"record", "record", "bool", "record the calls"},
	{"user-data", "user_data", "string", "platform data echoed in events"},
	{"sms-grace", "sms_grace_seconds", "int", "SMS grace period after expiry in seconds (0: none; default the pool's)"},
}

// bindingFields reads the binding flags given into an API request body;
// flags not given are left out, so a patch changes only what was named.
func bindingFields(fs *flag.FlagSet, args []string, allowUnset bool) (map[string]any, []string, error) {
	vals := map[string]*string{}
	for _, f := range bindingFlags {
		vals[f.flag] = fs.String(f.flag, "", f.usage)
	}
	unset := fs.String("unset", "", "comma-separated fields to remove (JSON names)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	body := map[string]any{}
	for _, f := range bindingFlags {
		if !given[f.flag] {
			continue
		}
		v := *vals[f.flag]
		switch f.kind {
		case "int":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, nil, usageError("--%s: %q is not an integer", f.flag, v)
			}
			body[f.field] = n
		case "bool":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, nil, usageError("--%s: %q is not true or false", f.flag, v)
			}
			body[f.field] = b
		default:
			body[f.field] = v
		}
	}
	if given["unset"] {
		if !allowUnset {
			return nil, nil, usageError("--unset is for binding patch")
		}
		for name := range strings.SplitSeq(*unset, ",") {
			if name = strings.TrimSpace(name); name != "" {
				body[name] = nil // JSON merge patch: null removes (RFC 7396)
			}
		}
	}
	return body, pos, nil
}

func (c *adminClient) bind(args []string) error {
	if len(args) == 0 {
		return usageError("bind: want axb, axn or axe")
	}
	model := strings.ToLower(args[0])
	if model != "axb" && model != "axn" && model != "axe" {
		return usageError("bind: unknown model %q (want axb, axn or axe)", args[0])
	}
	fs := flag.NewFlagSet("bind "+model, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	body, pos, err := bindingFields(fs, args[1:], false)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("bind %s: unexpected argument %q", model, pos[0])
	}
	if model != "axb" {
		body["model"] = model // axb is the API's default
	}
	out, err := c.do(http.MethodPost, "/v1/bindings", nil, body)
	if err != nil {
		return err
	}
	return c.show(out)
}

func (c *adminClient) binding(args []string) error {
	if len(args) == 0 {
		return usageError("binding: want show, list, patch, delete, messages or track")
	}
	sub, args := args[0], args[1:]
	oneID := func() (string, error) {
		if len(args) != 1 {
			return "", usageError("binding %s: want ID", sub)
		}
		return args[0], nil
	}
	var (
		body []byte
		err  error
	)
	switch sub {
	case "show", "delete", "messages":
		id, uerr := oneID()
		if uerr != nil {
			return uerr
		}
		method, path := http.MethodGet, "/v1/bindings/"+url.PathEscape(id)
		switch sub {
		case "delete":
			method = http.MethodDelete
		case "messages":
			path += "/messages"
		}
		body, err = c.do(method, path, nil, nil)
	case "track":
		if len(args) < 2 {
			return usageError("binding track: want ID and at least one tracking number")
		}
		body, err = c.do(http.MethodPost, "/v1/bindings/"+url.PathEscape(args[0])+"/track_nos", nil, map[string]any{"track_nos": args[1:]})
	case "list":
		q, qerr := queryFlags("binding list", args, "x", "party", "order_id", "limit")
		if qerr != nil {
			return qerr
		}
		body, err = c.do(http.MethodGet, "/v1/bindings", q, nil)
	case "patch":
		fs := flag.NewFlagSet("binding patch", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		patch, pos, perr := bindingFields(fs, args, true)
		if perr != nil {
			return perr
		}
		if len(pos) != 1 {
			return usageError("binding patch: want ID and the fields to change")
		}
		if len(patch) == 0 {
			return usageError("binding patch: nothing to change")
		}
		body, err = c.do(http.MethodPatch, "/v1/bindings/"+url.PathEscape(pos[0]), nil, patch)
	default:
		return usageError("binding: unknown command %q (want show, list, patch, delete, messages or track)", sub)
	}
	if err != nil {
		return err
	}
	return c.show(body)
}

func (c *adminClient) calls(args []string) error {
	if len(args) > 0 && args[0] == "hangup" {
		fs := flag.NewFlagSet("calls hangup", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		reason := fs.String("reason", "", "the Reason header's text both parties get")
		pos, err := parseInterleaved(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError("calls hangup: want CALL-ID")
		}
		q := url.Values{}
		if *reason != "" {
			q.Set("reason", *reason)
		}
		if _, err := c.do(http.MethodDelete, "/v1/calls/"+url.PathEscape(pos[0]), q, nil); err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.out, "hanging up %s\n", pos[0])
		return err
	}
	if len(args) > 0 {
		return usageError("calls: unexpected argument %q", args[0])
	}
	body, err := c.do(http.MethodGet, "/v1/calls", nil, nil)
	if err != nil {
		return err
	}
	return c.show(body)
}

// queryFlags parses flags named as query parameters (flag name: -
// for _) into q; no positional arguments.
func queryFlags(name string, args []string, params ...string) (url.Values, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := map[string]*string{}
	for _, p := range params {
		values[p] = fs.String(strings.ReplaceAll(p, "_", "-"), "", p)
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usageError("%s: unexpected argument %q", name, pos[0])
	}
	q := url.Values{}
	for k, v := range values {
		if *v != "" {
			q.Set(k, *v)
		}
	}
	return q, nil
}

// lookup is the waybill lookup a locker system makes, from a shell.
func (c *adminClient) lookup(args []string) error {
	if len(args) != 1 {
		return usageError("lookup: want TRACK-NO")
	}
	body, err := c.do(http.MethodGet, "/v1/lookup", url.Values{"track_no": {args[0]}}, nil)
	if err != nil {
		return err
	}
	return c.show(body)
}

func (c *adminClient) records(args []string) error {
	q, err := queryFlags("records", args, "binding", "order_id", "x", "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	body, err := c.do(http.MethodGet, "/v1/records", q, nil)
	if err != nil {
		return err
	}
	return c.show(body)
}

func (c *adminClient) events(args []string) error {
	if len(args) == 0 {
		return usageError("events: want dead or retry")
	}
	switch args[0] {
	case "dead":
		q, err := queryFlags("events dead", args[1:], "limit", "cursor")
		if err != nil {
			return err
		}
		body, err := c.do(http.MethodGet, "/v1/events/dead", q, nil)
		if err != nil {
			return err
		}
		return c.show(body)
	case "retry":
		if len(args) != 2 {
			return usageError("events retry: want EVENT-ID")
		}
		body, err := c.do(http.MethodPost, "/v1/events/dead/"+url.PathEscape(args[1])+"/retry", nil, nil)
		if err != nil {
			return err
		}
		return c.show(body)
	}
	return usageError("events: want dead or retry, not %q", args[0])
}

// parseInterleaved parses flags that may come before, between and after
// the positional arguments, which it returns in order; "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
