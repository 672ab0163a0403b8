package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/api"
	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/number"
	"github.com/xbridge/xbridge/store"
)

// setting is one knob of a subcommand. Its name is the flag, the config-file
// key and (upper-cased, dashes to underscores, prefixed XBRIDGE_) the
// environment variable, so the three can never drift apart.
type setting struct {
	name  string
	def   string
	usage string
}

// envName is the environment variable that carries a setting.
func envName(name string) string {
	return "XBRIDGE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

const configKey = "config"

// serveSettings are the knobs of xbridge serve, in the order --help lists
// them. The defaults here are the embedded defaults, the lowest layer.
var serveSettings = []setting{
	{"data", "./xbridge-data", "directory holding the bbolt file (created if missing)"},
	{"sip", "127.0.0.1:5060", "SIP listen address ip:port, UDP and TCP"},
	{"api", "127.0.0.1:8080", "HTTP API listen address host:port"},
	{"trunk", "127.0.0.1:5080", "outbound trunk host:port the B legs are sent to"},
	{"trunk-transport", "udp", "transport towards the trunk: udp or tcp"},
	{"rtp-ports", "20000-29999", "RTP relay port range min-max (min even, max odd)"},
	{"rtp-learning-window", "3s", "how long after a party's SDP its media may come from another address (NAT) and be latched; 0s: only SDP addresses"},
	{"media-ip", "", "IP address put in relayed SDP (default: the host of --sip)"},
	{"log-format", "json", "log format: json or console"},
	{"log-level", "info", "log level: trace, debug, info, warn, error"},
	// Numbers: whose national numbers, and how the B leg writes them to the trunk.
	{"default-country", "CN", "country of numbers written without a country code: region (CN, GB, US) or calling code (86, 44, 1)"},
	{"trunk-number-format", "+e164", "how the B leg's Request-URI, To, From and P-Asserted-Identity write numbers: +e164, e164, national, national0"},
	{"trunk-prefix", "", "tech prefix put in front of the callee's number (Request-URI, To), e.g. 10193; digits only, not with +e164"},
	{"trunk-user-phone", "", "add ;user=phone to the B leg's URIs: true or false (empty: true for +e164, false for the others)"},
	{"trusted", "", "comma-separated CIDRs of the carriers' trunks: INVITEs are taken from them and their P-Asserted-Identity believed (empty, and no --allow: any source, loopback only)"},
	{"api-token", "", "bearer token the HTTP API requires (empty: no auth)"},
	{"api-tokens", "", "JSON file of more API tokens, {\"name\": {\"token\" or \"token_env\", \"scopes\": [\"admin\"|\"lookup\"|\"lookup:full\"], \"lookups_per_minute\"}}"},
	{"quarantine", "24h", "how long a released (X, party) pair stays unusable"},
	{"pools", "", "JSON file of pool settings, {\"pool\": {settings as PUT /v1/pools/{pool} takes}, ...}, applied at every start"},
	// Call records and events (events package, webhooks_config.go).
	{"webhooks", "", "JSON file of where call events go, {\"pool\" or \"*\": {\"url\", \"secret\" or \"secret_env\", \"batch\", \"concurrency\", \"timeout\"}} (empty: records kept, events dropped)"},
	{"record-retention", "720h", "how long call records and dead events are kept (0: for ever)"},
	{"event-retry", "24h", "how long an undelivered event is retried before it is a dead letter"},
	// SMS relay (sms package): the pools' own "sms" settings override these.
	{"sms-grace", "72h", "how long after a binding expires SMS between its parties are still relayed (its pairs stay out of reuse meanwhile; 0: none)"},
	{"sms-retry-min", "10s", "wait after an SMS delivery attempt fails (408, 480, 5xx, no answer), doubling each time up to --sms-retry-max"},
	{"sms-retry-max", "10m", "longest wait between SMS delivery attempts"},
	{"answer-timeout", "60s", "give up on a B leg that has not answered within this"},
	{"rtp-timeout", "60s", "end a call whose media from either party has been silent this long (0: never)"},
	{"rtp-hold-timeout", "1h", "the same while the call is on hold (sendonly, recvonly, inactive); at least --rtp-timeout (0: never)"},
	{"max-call-duration", "4h", "end any call this long after its answer (0: no limit)"},
	// Calls the engine answers itself (AXE extension calls, announcements).
	{"prompt-lang", "zh", "language of the default prompts: zh (Mandarin) or en; pools override them with their own recordings"},
	// Edge: trust and overload (edge_config.go says how the limits are sized).
	{"allow", "", "comma-separated CIDRs INVITEs are also taken from, untrusted: the caller is their From user, whatever they assert"},
	{"insecure", "false", "start even with SIP off loopback and neither --trusted nor --allow, or the API off loopback without --api-token"},
	{"max-calls", "2000", "calls being set up or up at once; past it new INVITEs get 503 (0: no limit)"},
	{"max-cps", "1200", "new calls per second from all sources; past it 503 with Retry-After (0: no limit)"},
	{"max-cps-per-source", "300", "new calls per second from one source address outside --trusted; past it 503 with Retry-After (0: no limit)"},
	{configKey, "", "JSON config file path (keys are the flag names)"},
}

// demoSettings are the knobs of xbridge demo; the engine itself runs on
// free loopback ports with a temporary data directory.
var demoSettings = []setting{
	{"log-format", "console", "log format: json or console"},
	{"log-level", "error", "log level: trace, debug, info, warn, error"},
	{"packets", "50", "RTP packets (20 ms PCMU) each phone sends"},
	{"transport", "udp", "SIP transport of both phones (A to the engine, the engine to B): udp or tcp"},
	{"timeout", "15s", "the whole demo fails if it takes longer than this"},
}

// usageErr is a configuration error: main prints it and exits 2.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}

// isUsage reports whether err is a configuration error.
func isUsage(err error) bool {
	var u *usageErr
	return errors.As(err, &u)
}

// environ looks up an environment variable; os.LookupEnv in production.
type environ func(string) (string, bool)

// loadValues layers the settings: embedded defaults, then the config file
// (--config, or XBRIDGE_CONFIG), then the environment, then the flags. It
// returns the effective string value of every setting. A --help request
// returns flag.ErrHelp after writing the usage to out.
func loadValues(cmd string, settings []setting, args []string, env environ, out io.Writer) (map[string]string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	given := make(map[string]*string, len(settings))
	for _, s := range settings {
		if switches[s.name] {
			given[s.name] = switchFlag(fs, s)
			continue
		}
		given[s.name] = fs.String(s.name, s.def, s.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(out, cmd, settings)
			return nil, err
		}
		return nil, usageError("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usageError("unexpected argument %q (settings are flags: --name value)", fs.Arg(0))
	}
	flagged := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { flagged[f.Name] = true })

	values := make(map[string]string, len(settings))
	for _, s := range settings {
		values[s.name] = s.def
	}

	// The config file's own path follows flags > environment only.
	path := values[configKey]
	if v, ok := env(envName(configKey)); ok {
		path = v
	}
	if flagged[configKey] {
		path = *given[configKey]
	}
	if _, has := values[configKey]; has && path != "" {
		file, err := readConfigFile(path, settings)
		if err != nil {
			return nil, err
		}
		for k, v := range file {
			values[k] = v
		}
		values[configKey] = path
	}
	for _, s := range settings {
		if v, ok := env(envName(s.name)); ok {
			values[s.name] = v
		}
		if flagged[s.name] {
			values[s.name] = *given[s.name]
		}
	}
	return values, nil
}

// readConfigFile reads a JSON object whose keys are setting names. Values may
// be strings or numbers; any other key or value is an error naming the key.
func readConfigFile(path string, settings []setting) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("--config: %v", err)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, usageError("--config %s: not a JSON object: %v", path, err)
	}
	if dec.More() {
		return nil, usageError("--config %s: trailing data after the JSON object", path)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.name] = true
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same key first every time
	out := make(map[string]string, len(raw))
	for _, k := range keys {
		if !known[k] || k == configKey {
			return nil, usageError("--config %s: unknown key %q", path, k)
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(raw[k]))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, usageError("--config %s: key %q: %v", path, k, err)
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			if !switches[k] {
				return nil, usageError("--config %s: key %q: want a string or number, got %s", path, k, raw[k])
			}
			out[k] = strconv.FormatBool(v)
		default:
			return nil, usageError("--config %s: key %q: want a string or number, got %s", path, k, raw[k])
		}
	}
	return out, nil
}

// writeUsage lists every flag with its environment variable and default.
func writeUsage(w io.Writer, cmd string, settings []setting) {
	layers := "flags > environment > defaults"
	for _, s := range settings {
		if s.name == configKey {
			layers = "flags > environment > config file > defaults"
		}
	}
	fmt.Fprintf(w, "Usage: xbridge %s [flags]\n\nPrecedence: %s.\n\nFlags:\n", cmd, layers)
	for _, s := range settings {
		fmt.Fprintf(w, "  --%s\n        %s\n        env %s", s.name, s.usage, envName(s.name))
		if s.def != "" {
			fmt.Fprintf(w, ", default %q", s.def)
		}
		fmt.Fprintln(w)
	}
}

// maxLearningWindow caps --rtp-learning-window: NAT latching needs the
// party's first packets, which follow its SDP within a second or so.
const maxLearningWindow = time.Minute

// Config is the effective, validated configuration of xbridge serve.
type Config struct {
	DataDir        string
	SIP            netip.AddrPort
	API            string
	Trunk          string
	TrunkTransport string
	PortMin        int
	PortMax        int
	LearningWindow time.Duration
	MediaIP        netip.Addr
	LogFormat      string
	LogLevel       zerolog.Level
	Country        *number.Country // numbers without a country code are of this one
	TrunkNumbers   number.Trunk    // how the B leg writes numbers towards the trunk
	Trusted        []netip.Prefix
	APIToken       string
	// APITokens are the --api-tokens file's (tokens_config.go).
	APITokens  []api.Token
	Quarantine time.Duration
	// Pools are the --pools file's settings by pool (pools_config.go).
	Pools map[string]store.PoolSettings
	// Webhooks are the --webhooks file's receivers by pool
	// (webhooks_config.go); RecordRetention and EventRetry keep records
	// and retry events.
	Webhooks        map[string]events.Webhook
	RecordRetention time.Duration
	EventRetry      time.Duration
	// SMSGrace is the SMS grace period of pools that set none.
	SMSGrace time.Duration
	// SMSRetryMin and SMSRetryMax bound the back-off between attempts.
	SMSRetryMin, SMSRetryMax time.Duration
	AnswerTimeout            time.Duration
	// RTPTimeout, RTPHoldTimeout and MaxCallDuration end calls that would
	// otherwise stay up forever; 0 disables each.
	RTPTimeout      time.Duration
	RTPHoldTimeout  time.Duration
	MaxCallDuration time.Duration
	PromptLang      string // the default prompts' language (testdata/prompts/<lang>)
	ConfigFile      string

	// Edge: trust and overload (edge_config.go).
	Allowed         []netip.Prefix
	Insecure        bool
	MaxCalls        int
	MaxCPS          int
	MaxCPSPerSource int
}

// loadServeConfig loads and validates the serve configuration.
func loadServeConfig(args []string, env environ, out io.Writer) (Config, error) {
	v, err := loadValues("serve", serveSettings, args, env, out)
	if err != nil {
		return Config{}, err
	}
	return parseServeConfig(v, env)
}

// parseServeConfig validates every value up front; each error names its flag.
func parseServeConfig(v map[string]string, env environ) (Config, error) {
	c := Config{
		DataDir:    v["data"],
		APIToken:   v["api-token"],
		ConfigFile: v[configKey],
		PromptLang: v["prompt-lang"],
	}
	var err error
	if c.PromptLang != "zh" && c.PromptLang != "en" {
		return Config{}, usageError("--prompt-lang: %q is not zh or en", c.PromptLang)
	}
	if c.DataDir == "" {
		return Config{}, usageError("--data: must not be empty")
	}
	if c.SIP, err = parseListenIP("sip", v["sip"]); err != nil {
		return Config{}, err
	}
	if c.API, err = parseHostPort("api", v["api"]); err != nil {
		return Config{}, err
	}
	if c.Trunk, err = parseHostPort("trunk", v["trunk"]); err != nil {
		return Config{}, err
	}
	if c.TrunkTransport, err = oneOf("trunk-transport", v["trunk-transport"], "udp", "tcp"); err != nil {
		return Config{}, err
	}
	if c.PortMin, c.PortMax, err = parsePortRange("rtp-ports", v["rtp-ports"]); err != nil {
		return Config{}, err
	}
	if c.LearningWindow, err = parseDuration("rtp-learning-window", v["rtp-learning-window"], 0); err != nil {
		return Config{}, err
	}
	if c.LearningWindow > maxLearningWindow {
		return Config{}, usageError("--rtp-learning-window: %s is above the maximum %s (the window is when a stranger can take over a party's media)", c.LearningWindow, maxLearningWindow)
	}
	if c.MediaIP, err = parseMediaIP(v["media-ip"], c.SIP); err != nil {
		return Config{}, err
	}
	if c.LogFormat, c.LogLevel, err = parseLogging(v["log-format"], v["log-level"]); err != nil {
		return Config{}, err
	}
	if c.Country, c.TrunkNumbers, err = parseNumbers(v); err != nil {
		return Config{}, err
	}
	if c.Trusted, err = parsePrefixes("trusted", v["trusted"]); err != nil {
		return Config{}, err
	}
	if c.Quarantine, err = parseDuration("quarantine", v["quarantine"], 0); err != nil {
		return Config{}, err
	}
	if c.Pools, err = loadPoolsFile(v["pools"]); err != nil {
		return Config{}, err
	}
	if c.Webhooks, err = loadWebhooksFile(v["webhooks"], env); err != nil {
		return Config{}, err
	}
	if c.APITokens, err = loadTokensFile(v["api-tokens"], env); err != nil {
		return Config{}, err
	}
	if c.RecordRetention, err = parseDuration("record-retention", v["record-retention"], 0); err != nil {
		return Config{}, err
	}
	if c.EventRetry, err = parseDuration("event-retry", v["event-retry"], time.Second); err != nil {
		return Config{}, err
	}
	if c.SMSGrace, err = parseDuration("sms-grace", v["sms-grace"], 0); err != nil {
		return Config{}, err
	}
	if c.SMSGrace > maxSMSGrace {
		return Config{}, usageError("--sms-grace: %s is above the maximum %s", c.SMSGrace, maxSMSGrace)
	}
	if c.SMSRetryMin, err = parseDuration("sms-retry-min", v["sms-retry-min"], 100*time.Millisecond); err != nil {
		return Config{}, err
	}
	if c.SMSRetryMax, err = parseDuration("sms-retry-max", v["sms-retry-max"], c.SMSRetryMin); err != nil {
		return Config{}, err
	}
	if c.AnswerTimeout, err = parseDuration("answer-timeout", v["answer-timeout"], time.Second); err != nil {
		return Config{}, err
	}
	if c.RTPTimeout, c.RTPHoldTimeout, c.MaxCallDuration, err = parseCallLimits(v); err != nil {
		return Config{}, err
	}
	if strings.ContainsAny(c.APIToken, " \t\r\n") {
		return Config{}, usageError("--api-token: must not contain whitespace")
	}
	if api, err := netip.ParseAddrPort(c.API); err == nil && api == c.SIP {
		return Config{}, usageError("--api: %s is also the --sip address (SIP listens on TCP too)", c.API)
	}
	if err := parseEdgeConfig(v, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// demoConfig is the validated configuration of xbridge demo.
type demoConfig struct {
	LogFormat string
	LogLevel  zerolog.Level
	Packets   int
	Transport string
	Timeout   time.Duration
}

func loadDemoConfig(args []string, env environ, out io.Writer) (demoConfig, error) {
	v, err := loadValues("demo", demoSettings, args, env, out)
	if err != nil {
		return demoConfig{}, err
	}
	var c demoConfig
	if c.LogFormat, c.LogLevel, err = parseLogging(v["log-format"], v["log-level"]); err != nil {
		return demoConfig{}, err
	}
	n, err := strconv.Atoi(v["packets"])
	if err != nil || n < 1 || n > 10000 {
		return demoConfig{}, usageError("--packets: %q is not a count between 1 and 10000", v["packets"])
	}
	c.Packets = n
	if c.Transport, err = oneOf("transport", v["transport"], "udp", "tcp"); err != nil {
		return demoConfig{}, err
	}
	if c.Timeout, err = parseDuration("timeout", v["timeout"], time.Second); err != nil {
		return demoConfig{}, err
	}
	return c, nil
}

// parseListenIP wants a literal ip:port: the SIP address doubles as the
// default media address, which must be an IP.
func parseListenIP(name, s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, usageError("--%s: %q is not an ip:port address", name, s)
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, usageError("--%s: %q needs a port between 1 and 65535", name, s)
	}
	return ap, nil
}

func parseHostPort(name, s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", usageError("--%s: %q is not a host:port address", name, s)
	}
	if name == "trunk" && host == "" {
		return "", usageError("--%s: %q has no host", name, s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", usageError("--%s: %q needs a port between 1 and 65535", name, s)
	}
	return s, nil
}

func oneOf(name, s string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", usageError("--%s: %q is not one of %s", name, s, strings.Join(allowed, ", "))
}

// parsePortRange wants min-max with an even min and an odd max: RTP takes the
// even port of a pair and RTCP the odd one above it, so the range must hold
// whole pairs.
func parsePortRange(name, s string) (int, int, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, usageError("--%s: %q is not a range min-max", name, s)
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(lo))
	last, err2 := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, usageError("--%s: %q is not a range of two port numbers", name, s)
	case first < 1024 || last > 65535:
		return 0, 0, usageError("--%s: %q must lie within 1024-65535", name, s)
	case first >= last:
		return 0, 0, usageError("--%s: %q has min not below max", name, s)
	case first%2 != 0:
		return 0, 0, usageError("--%s: %q must start on an even port (RTP even, RTCP odd)", name, s)
	case (last-first+1)%2 != 0:
		return 0, 0, usageError("--%s: %q holds an odd number of ports; it must end on an odd port to hold whole RTP/RTCP pairs", name, s)
	case last-first+1 < 4:
		return 0, 0, usageError("--%s: %q is too small; a call needs two port pairs", name, s)
	}
	return first, last, nil
}

func parseMediaIP(s string, sip netip.AddrPort) (netip.Addr, error) {
	if s == "" {
		ip := sip.Addr().Unmap()
		if ip.IsUnspecified() {
			return netip.Addr{}, usageError("--media-ip: must be set when --sip listens on %s (peers cannot send RTP to it)", ip)
		}
		return ip, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, usageError("--media-ip: %q is not an IP address", s)
	}
	if ip.IsUnspecified() {
		return netip.Addr{}, usageError("--media-ip: %q is unspecified; give the address peers send RTP to", s)
	}
	return ip.Unmap(), nil
}

func parseLogging(format, level string) (string, zerolog.Level, error) {
	f, err := oneOf("log-format", format, "json", "console")
	if err != nil {
		return "", 0, err
	}
	for _, ok := range []string{"trace", "debug", "info", "warn", "error", "fatal", "panic", "disabled"} {
		if level == ok {
			l, err := zerolog.ParseLevel(level)
			if err != nil {
				return "", 0, usageError("--log-level: %v", err)
			}
			return f, l, nil
		}
	}
	return "", 0, usageError("--log-level: %q is not one of trace, debug, info, warn, error, fatal, panic, disabled", level)
}

// parseNumbers reads the default country and the trunk number format.
func parseNumbers(v map[string]string) (*number.Country, number.Trunk, error) {
	country, err := number.LookupCountry(v["default-country"])
	if err != nil {
		return nil, number.Trunk{}, usageError("--default-country: %v", err)
	}
	style, err := number.ParseStyle(v["trunk-number-format"])
	if err != nil {
		return nil, number.Trunk{}, usageError("--trunk-number-format: %v", err)
	}
	userPhone := number.DefaultUserPhone(style)
	if s := v["trunk-user-phone"]; s != "" {
		if userPhone, err = strconv.ParseBool(s); err != nil {
			return nil, number.Trunk{}, usageError("--trunk-user-phone: %q is not true or false", s)
		}
	}
	t := number.Trunk{Style: style, Prefix: v["trunk-prefix"], UserPhone: userPhone, Country: country}
	if err := t.Check(); err != nil {
		return nil, number.Trunk{}, usageError("--trunk-prefix: %v", err)
	}
	return country, t, nil
}

// parsePrefixes reads comma-separated CIDRs; a bare IP means that one host.
func parsePrefixes(name, s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			if p != p.Masked() {
				return nil, usageError("--%s: %q has host bits set (did you mean %s?)", name, f, p.Masked())
			}
			out = append(out, p)
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil {
			return nil, usageError("--%s: %q is not a CIDR prefix or IP address", name, f)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}

// minCallLimit is the shortest media timeout or call duration accepted: RTP
// arrives every 20 ms, but a jitter buffer, a re-INVITE or a NAT rebinding
// can pause it for a good fraction of a second.
const minCallLimit = time.Second

// parseCallLimits reads the limits that end calls: each 0 (off) or at least
// minCallLimit, and a hold timeout no shorter than the media timeout (a
// call on hold may be silent for longer than one that is not).
func parseCallLimits(v map[string]string) (rtp, hold, maxDur time.Duration, err error) {
	limits := []struct {
		name string
		into *time.Duration
	}{{"rtp-timeout", &rtp}, {"rtp-hold-timeout", &hold}, {"max-call-duration", &maxDur}}
	for _, l := range limits {
		if *l.into, err = parseDuration(l.name, v[l.name], 0); err != nil {
			return 0, 0, 0, err
		}
		if *l.into != 0 && *l.into < minCallLimit {
			return 0, 0, 0, usageError("--%s: %s is below the minimum %s (0 turns it off)", l.name, v[l.name], minCallLimit)
		}
	}
	if hold != 0 && hold < rtp {
		return 0, 0, 0, usageError("--rtp-hold-timeout: %s is shorter than --rtp-timeout %s", hold, rtp)
	}
	return rtp, hold, maxDur, nil
}

// maxSMSGrace is the store's bound on a grace period (a year and a month).
const maxSMSGrace = 400 * 24 * time.Hour

func parseDuration(name, s string, least time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, usageError("--%s: %q is not a duration (e.g. 90s, 24h)", name, s)
	}
	if d < least {
		return 0, usageError("--%s: %s is below the minimum %s", name, s, least)
	}
	return d, nil
}
