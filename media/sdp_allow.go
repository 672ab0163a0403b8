package media

import "strings"

// The SDP allowlist. What a party receives is built from these tables and
// nothing else: every line, attribute, codec, parameter and keyword below is
// public vocabulary, and every value the sender chooses is held to a grammar
// of digits (and, for a few fields, a fixed set of words, six hex digits, or
// an SRTP key of the suite's exact length). A line or parameter that does
// not fit is dropped, never repaired. New vocabulary is added here, with a
// golden case, when a real peer needs it.
//
// Session level: v, o, s, c, t, b (o=, s=, c= and t= are the relay's own).
// Media level: m, c, b and the attributes of mediaAttrs. Numbers have at
// most 8 digits, so a phone number (9 or more) never crosses as a value.

// attrKind says how an allowed media attribute is checked and rendered.
type attrKind int

const (
	attrFlag      attrKind = iota // no value: rtcp-mux
	attrDirection                 // sendrecv, sendonly, recvonly, inactive
	attrRtpmap
	attrFmtp
	attrPtime     // ptime, maxptime: milliseconds
	attrFramerate // frames per second
	attrRTCP      // a=rtcp: rewritten to the relay's RTCP port
	attrRtcpFB
	attrSilenceSupp
	attrCrypto
)

// mediaAttrs is every a= attribute that may cross, by name (case-sensitive,
// as RFC 8866 writes them).
var mediaAttrs = map[string]attrKind{
	"rtpmap":      attrRtpmap,
	"fmtp":        attrFmtp,
	"ptime":       attrPtime,
	"maxptime":    attrPtime,
	"sendrecv":    attrDirection,
	"sendonly":    attrDirection,
	"recvonly":    attrDirection,
	"inactive":    attrDirection,
	"rtcp":        attrRTCP,
	"rtcp-mux":    attrFlag,
	"rtcp-fb":     attrRtcpFB,
	"silenceSupp": attrSilenceSupp,
	"framerate":   attrFramerate,
	"crypto":      attrCrypto,
}

// mediaTypes are the m= media the grammar knows (RFC 8866 section 5.14).
var mediaTypes = map[string]bool{
	"audio": true, "video": true, "text": true, "application": true, "image": true, "message": true,
}

// transport is what the relay makes of an m= proto.
type transport struct {
	rtp    bool   // the formats are RTP payload types
	secure bool   // SRTP: carried only with an SDES key (a=crypto)
	refuse string // why the relay cannot carry it; "" when it can
}

// transports are the m= protos the grammar knows, lower-cased. The relay is
// a UDP byte relay that forwards what passes an RTP version check and
// rewrites RTCP: it carries RTP/AVP(F) and SDES-keyed RTP/SAVP(F) end to end,
// and nothing that needs a handshake through it (DTLS), a stream (TCP) or
// another packet format (UDPTL, BFCP, MSRP, SCTP).
var transports = map[string]transport{
	"rtp/avp":            {rtp: true},
	"rtp/avpf":           {rtp: true},
	"rtp/savp":           {rtp: true, secure: true},
	"rtp/savpf":          {rtp: true, secure: true},
	"udp/tls/rtp/savp":   {rtp: true, refuse: "DTLS-SRTP cannot pass the relay"},
	"udp/tls/rtp/savpf":  {rtp: true, refuse: "DTLS-SRTP cannot pass the relay"},
	"tcp/rtp/avp":        {rtp: true, refuse: "RTP over TCP: the relay is UDP only"},
	"tcp/rtp/avpf":       {rtp: true, refuse: "RTP over TCP: the relay is UDP only"},
	"tcp/rtp/savp":       {rtp: true, refuse: "RTP over TCP: the relay is UDP only"},
	"tcp/rtp/savpf":      {rtp: true, refuse: "RTP over TCP: the relay is UDP only"},
	"tcp/tls/rtp/avp":    {rtp: true, refuse: "RTP over TLS: the relay is UDP only"},
	"tcp/tls/rtp/avpf":   {rtp: true, refuse: "RTP over TLS: the relay is UDP only"},
	"tcp/dtls/rtp/savp":  {rtp: true, refuse: "DTLS-SRTP over TCP cannot pass the relay"},
	"tcp/dtls/rtp/savpf": {rtp: true, refuse: "DTLS-SRTP over TCP cannot pass the relay"},
	"udptl":              {refuse: "T.38 over UDPTL is not RTP"},
	"tcp/udptl":          {refuse: "T.38 over TCP is not RTP"},
	"tcp/tls/udptl":      {refuse: "T.38 over TLS is not RTP"},
	"udp/bfcp":           {refuse: "BFCP is not RTP"},
	"tcp/bfcp":           {refuse: "BFCP is not RTP"},
	"tcp/tls/bfcp":       {refuse: "BFCP is not RTP"},
	"udp/tls/bfcp":       {refuse: "BFCP is not RTP"},
	"tcp/msrp":           {refuse: "MSRP is not RTP"},
	"tcp/tls/msrp":       {refuse: "MSRP is not RTP"},
	"udp/dtls/sctp":      {refuse: "SCTP data channels are not RTP"},
	"tcp/dtls/sctp":      {refuse: "SCTP data channels are not RTP"},
	"dtls/sctp":          {refuse: "SCTP data channels are not RTP"},
	"udp":                {refuse: "an unspecified protocol over UDP is not RTP"},
	"tcp":                {refuse: "an unspecified protocol over TCP is not RTP"},
	"tcp/tls":            {refuse: "an unspecified protocol over TLS is not RTP"},
	"udp/tls/udptl":      {refuse: "T.38 over DTLS is not RTP"},
	"tcp/wss/msrp":       {refuse: "MSRP is not RTP"},
	"tcp/tls/rtp/savp":   {rtp: true, refuse: "RTP over TLS: the relay is UDP only"},
	"tcp/tls/rtp/savpf":  {rtp: true, refuse: "RTP over TLS: the relay is UDP only"},
}

// nonRTPFormats are the m= formats of the non-RTP transports above (T.38,
// MSRP's "*", WebRTC data channels); any other is a number.
var nonRTPFormats = map[string]bool{"t38": true, "*": true, "webrtc-datachannel": true}

// codecs are the RTP encoding names a=rtpmap may carry (IANA "RTP Payload
// Format media types"), lower-cased; matched without regard to case (RFC
// 4855 section 3) and passed in the sender's spelling.
var codecs = map[string]bool{
	// audio
	"pcmu": true, "pcma": true, "g722": true, "g723": true, "g728": true, "g729": true,
	"g729d": true, "g729e": true, "g7221": true, "g7291": true, "g719": true,
	"g726-16": true, "g726-24": true, "g726-32": true, "g726-40": true,
	"aal2-g726-16": true, "aal2-g726-24": true, "aal2-g726-32": true, "aal2-g726-40": true,
	"gsm": true, "gsm-efr": true, "gsm-hr-08": true, "amr": true, "amr-wb": true, "amr-wb+": true,
	"evs": true, "ilbc": true, "isac": true, "opus": true, "silk": true, "speex": true,
	"l8": true, "l16": true, "l20": true, "l24": true, "dvi4": true, "vdvi": true, "lpc": true,
	"qcelp": true, "evrc": true, "evrc0": true, "evrc1": true, "evrcb": true, "evrcb0": true,
	"evrcb1": true, "evrcwb": true, "evrcwb0": true, "evrcwb1": true, "evrcnw": true,
	"evrcnw0": true, "evrcnw1": true, "smv": true, "smv0": true, "mpa": true, "mp4a-latm": true,
	"mpeg4-generic": true, "bv16": true, "bv32": true, "cn": true, "telephone-event": true,
	"tone": true,
	// video
	"h261": true, "h263": true, "h263-1998": true, "h263-2000": true, "h264": true,
	"h264-svc": true, "h265": true, "vp8": true, "vp9": true, "av1": true, "jpeg": true,
	"mpv": true, "mp2t": true, "mp4v-es": true,
	// text
	"t140": true,
	// any media: redundancy, FEC, retransmission
	"red": true, "ulpfec": true, "parityfec": true, "flexfec": true, "rtx": true,
}

// fmtpKind is the grammar of one format parameter's value.
type fmtpKind int

const (
	fmtpNumber    fmtpKind = iota // 1-8 digits
	fmtpSigned                    // -1 or 1-3 digits (EVS cmr, ch-aw-recv)
	fmtpDecimal                   // 6.3, 24000
	fmtpDecRange                  // 13.2 or 13.2-24.4 (EVS br)
	fmtpList                      // 0,2,4,7 (mode-set)
	fmtpYesNo                     // yes, no
	fmtpHex6                      // 42e01f (H.264 profile-level-id)
	fmtpBandwidth                 // a word of evsBandwidths
)

// fmtpParams are the format parameters that may cross, lower-cased (names
// are case-insensitive, RFC 4855 section 3). A parameter outside the table
// (vendor x-..., base64 sprop-parameter-sets, free-form config) is dropped
// and the others kept: what is dropped falls back to its default, which
// both ends know.
var fmtpParams = map[string]fmtpKind{
	// G.723.1, G.729, G.722.1, iLBC
	"annexa": fmtpYesNo, "annexb": fmtpYesNo, "bitrate": fmtpDecimal, "mode": fmtpNumber,
	// common
	"minptime": fmtpNumber, "maxptime": fmtpNumber, "ptime": fmtpNumber, "channels": fmtpNumber,
	// Opus (RFC 7587)
	"useinbandfec": fmtpNumber, "usedtx": fmtpNumber, "stereo": fmtpNumber, "sprop-stereo": fmtpNumber,
	"cbr": fmtpNumber, "maxplaybackrate": fmtpNumber, "sprop-maxcapturerate": fmtpNumber,
	"maxaveragebitrate": fmtpNumber,
	// AMR, AMR-WB (RFC 4867), EVS (3GPP TS 26.445 annex A)
	"mode-set": fmtpList, "mode-change-period": fmtpNumber, "mode-change-capability": fmtpNumber,
	"mode-change-neighbor": fmtpNumber, "octet-align": fmtpNumber, "crc": fmtpNumber,
	"robust-sorting": fmtpNumber, "interleaving": fmtpNumber, "max-red": fmtpNumber,
	"br": fmtpDecRange, "bw": fmtpBandwidth, "cmr": fmtpSigned, "dtx": fmtpNumber, "dtx-recv": fmtpNumber,
	"evs-mode-switch": fmtpNumber, "hf-only": fmtpNumber, "ch-aw-recv": fmtpSigned,
	"ch-send": fmtpNumber, "ch-recv": fmtpNumber,
	// H.264 (RFC 6184), H.265 (RFC 7798), VP8/VP9
	"profile-level-id": fmtpHex6, "packetization-mode": fmtpNumber, "level-asymmetry-allowed": fmtpNumber,
	"max-mbps": fmtpNumber, "max-smbps": fmtpNumber, "max-fs": fmtpNumber, "max-cpb": fmtpNumber,
	"max-dpb": fmtpNumber, "max-br": fmtpNumber, "max-fr": fmtpNumber, "max-fps": fmtpNumber,
	"redundant-pic-cap": fmtpNumber, "sprop-interleaving-depth": fmtpNumber,
	"sprop-max-don-diff": fmtpNumber, "sprop-deint-buf-req": fmtpNumber, "deint-buf-cap": fmtpNumber,
	"sprop-init-buf-time": fmtpNumber, "max-rcmd-nalu-size": fmtpNumber,
	"profile-id": fmtpNumber, "level-id": fmtpNumber, "tier-flag": fmtpNumber, "profile-space": fmtpNumber,
	// H.263 (RFC 4629) picture sizes and annexes
	"cif": fmtpNumber, "qcif": fmtpNumber, "sqcif": fmtpNumber, "cif4": fmtpNumber, "cif16": fmtpNumber,
	"maxbr": fmtpNumber, "bpp": fmtpNumber, "f": fmtpNumber, "i": fmtpNumber, "j": fmtpNumber,
	"t": fmtpNumber, "k": fmtpNumber, "n": fmtpNumber,
	// retransmission (RFC 4588)
	"apt": fmtpNumber, "rtx-time": fmtpNumber,
}

// evsBandwidths are the values of the EVS bw parameter.
var evsBandwidths = map[string]bool{
	"nb": true, "wb": true, "swb": true, "fb": true,
	"nb-wb": true, "nb-swb": true, "nb-fb": true, "wb-swb": true, "wb-fb": true, "swb-fb": true,
}

// rtcpFeedback are the a=rtcp-fb values after the payload type (RFC 4585,
// 5104; goog-remb and transport-cc as browsers send them). "ack app" and
// "nack app" carry application text and are not here; trr-int takes a number.
var rtcpFeedback = map[string]bool{
	"ack rpsi": true, "nack": true, "nack pli": true, "nack sli": true, "nack rpsi": true,
	"ccm fir": true, "ccm tmmbr": true, "ccm tstr": true, "goog-remb": true, "transport-cc": true,
}

// silenceSuppWords are the words of a=silenceSupp (RFC 3108 section 5.6).
var silenceSuppWords = struct{ enable, pref, sidUse []string }{
	enable: []string{"on", "off"},
	pref:   []string{"standard", "custom", "-"},
	sidUse: []string{"No SID", "Fixed Noise", "Sampled Noise", "-"},
}

// cryptoSuites are the SDES suites (RFC 4568, 6188, 7714) with the length in
// bytes of their master key and salt, which the inline key must decode to.
var cryptoSuites = map[string]int{
	"AES_CM_128_HMAC_SHA1_80": 30, "AES_CM_128_HMAC_SHA1_32": 30, "F8_128_HMAC_SHA1_80": 30,
	"AES_192_CM_HMAC_SHA1_80": 38, "AES_192_CM_HMAC_SHA1_32": 38,
	"AES_256_CM_HMAC_SHA1_80": 46, "AES_256_CM_HMAC_SHA1_32": 46,
	"AEAD_AES_128_GCM": 28, "AEAD_AES_256_GCM": 44,
}

// cryptoSessionParams are the SDES session parameters without a value; KDR
// and WSH take a number. FEC_KEY (a second key) and FEC_ORDER are not
// carried: a line with any parameter outside these is dropped whole, since
// a key with some of its parameters missing is a different key.
var cryptoSessionParams = map[string]bool{
	"UNENCRYPTED_SRTP": true, "UNENCRYPTED_SRTCP": true, "UNAUTHENTICATED_SRTP": true,
}

// bandwidthTypes are the b= modifiers (RFC 8866, 3556, 3890).
var bandwidthTypes = map[string]bool{"AS": true, "CT": true, "TIAS": true, "RR": true, "RS": true}

// maxDigits bounds every number a sender chooses: large enough for any
// clock rate, bit rate or port, too short for a phone number.
const maxDigits = 8

// ---- value grammars: each reports whether v fits, allocating nothing ----

// lookupFold looks s up in a table of lower-case keys.
func lookupFold[V any](table map[string]V, s string) (V, bool) {
	var buf [32]byte
	if len(s) > len(buf) {
		var zero V
		return zero, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	v, ok := table[string(buf[:len(s)])]
	return v, ok
}

// number parses 1 to max digits.
func number(s string, max int) (int, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isNumber(s string) bool { _, ok := number(s, maxDigits); return ok }

// isDecimal accepts digits with an optional fraction: 20, 6.3, 29.97.
func isDecimal(s string, intDigits, fracDigits int) bool {
	i, f, hasFrac := strings.Cut(s, ".")
	if _, ok := number(i, intDigits); !ok {
		return false
	}
	if hasFrac {
		_, ok := number(f, fracDigits)
		return ok
	}
	return true
}

// payloadType parses an RTP payload type, 0-127.
func payloadType(s string) (int, bool) {
	n, ok := number(s, 3)
	return n, ok && n <= 127
}

// ptSet is the payload types of one m= line.
type ptSet [2]uint64

func (p *ptSet) add(pt int)      { p[pt>>6] |= 1 << (pt & 63) }
func (p *ptSet) has(pt int) bool { return p[pt>>6]&(1<<(pt&63)) != 0 }
func (m *mediaDesc) listed(s string) bool {
	pt, ok := payloadType(s)
	return ok && m.pts.has(pt)
}

// checkRtpmap: "<pt> <encoding>/<clock rate>[/<channels>]", pt on the m= line.
func checkRtpmap(v string, m *mediaDesc) bool {
	pt, enc, ok := strings.Cut(v, " ")
	if !ok || !m.listed(pt) {
		return false
	}
	name, rest, ok := strings.Cut(enc, "/")
	if !ok {
		return false
	}
	if _, known := lookupFold(codecs, name); !known {
		return false
	}
	rate, channels, hasChannels := strings.Cut(rest, "/")
	if _, ok := number(rate, 6); !ok {
		return false
	}
	if hasChannels {
		_, ok := number(channels, 2)
		return ok
	}
	return true
}

// checkFmtp: "<pt> <params>" with pt on the m= line and at least one
// parameter that fits; renderFmtp writes only those.
func checkFmtp(v string, m *mediaDesc) bool {
	pt, params, ok := strings.Cut(v, " ")
	if !ok || !m.listed(pt) {
		return false
	}
	for rest := params; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, ";")
		if fmtpParamOK(strings.TrimSpace(p)) {
			return true
		}
	}
	return false
}

// fmtpParamOK checks one parameter: "<name>=<value>" from fmtpParams, or a
// bare value made of numbers (telephone-event "0-15,66", red "96/96").
func fmtpParamOK(p string) bool {
	name, value, ok := strings.Cut(p, "=")
	if !ok {
		return isEventList(p) || isPTList(p)
	}
	kind, known := lookupFold(fmtpParams, name)
	if !known {
		return false
	}
	switch kind {
	case fmtpNumber:
		return isNumber(value)
	case fmtpSigned:
		_, ok := number(strings.TrimPrefix(value, "-"), 3)
		return ok
	case fmtpDecimal:
		return isDecimal(value, maxDigits, 2)
	case fmtpDecRange:
		lo, hi, isRange := strings.Cut(value, "-")
		return isDecimal(lo, 3, 2) && (!isRange || isDecimal(hi, 3, 2))
	case fmtpList:
		return isList(value, ',', 2, 0)
	case fmtpYesNo:
		return strings.EqualFold(value, "yes") || strings.EqualFold(value, "no")
	case fmtpHex6:
		return isHex(value, 6)
	case fmtpBandwidth:
		_, ok := lookupFold(evsBandwidths, value)
		return ok
	}
	return false
}

// isList accepts up to 16 numbers of at most digits digits separated by sep,
// each no larger than max when max > 0.
func isList(s string, sep byte, digits, max int) bool {
	for i := 0; i < 16; i++ {
		item, rest, more := strings.Cut(s, string(sep))
		n, ok := number(item, digits)
		if !ok || max > 0 && n > max {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
	return false
}

// isEventList accepts RFC 4733 event lists: 0-15,66,70-72 (events 0-255).
func isEventList(s string) bool {
	for i := 0; i < 16; i++ {
		item, rest, more := strings.Cut(s, ",")
		lo, hi, isRange := strings.Cut(item, "-")
		if a, ok := number(lo, 3); !ok || a > 255 {
			return false
		}
		if isRange {
			if b, ok := number(hi, 3); !ok || b > 255 {
				return false
			}
		}
		if !more {
			return true
		}
		s = rest
	}
	return false
}

// isPTList accepts RFC 2198 redundancy lists: 96/96/0.
func isPTList(s string) bool { return isList(s, '/', 3, 127) }

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkRtcpFB: "<pt>|* <feedback>", pt on the m= line.
func checkRtcpFB(v string, m *mediaDesc) bool {
	pt, fb, ok := strings.Cut(v, " ")
	if !ok || pt != "*" && !m.listed(pt) {
		return false
	}
	if n, ok := strings.CutPrefix(fb, "trr-int "); ok {
		return isNumber(n)
	}
	return rtcpFeedback[fb]
}

// checkSilenceSupp: "<on|off> <timer|-> <pref|-> <sidUse|-> <fxnslevel|->".
func checkSilenceSupp(v string, _ *mediaDesc) bool {
	rest, ok := cutWord(v, silenceSuppWords.enable)
	if !ok {
		return false
	}
	timer, rest, ok := strings.Cut(rest, " ")
	if _, isTimer := number(timer, 5); !ok || timer != "-" && !isTimer {
		return false
	}
	if rest, ok = cutWord(rest, silenceSuppWords.pref); !ok {
		return false
	}
	if rest, ok = cutWord(rest, silenceSuppWords.sidUse); !ok {
		return false
	}
	_, ok = number(rest, 3)
	return ok || rest == "-"
}

// cutWord removes one of words and the space after it from the front of s.
func cutWord(s string, words []string) (string, bool) {
	for _, w := range words {
		if rest, ok := strings.CutPrefix(s, w+" "); ok {
			return rest, true
		}
	}
	return "", false
}

// checkCrypto: "<tag> <suite> inline:<key>[|<lifetime>][|<mki>:<length>]
// [;inline:...] [<session param> ...]" (RFC 4568 section 9.1), only on an
// SRTP m= line, with the key of the suite's exact length.
func checkCrypto(v string, m *mediaDesc) bool {
	if !m.transport.secure {
		return false
	}
	tag, rest, ok := strings.Cut(v, " ")
	if _, okTag := number(tag, 4); !ok || !okTag {
		return false
	}
	suite, rest, ok := strings.Cut(rest, " ")
	keyLen, known := cryptoSuites[suite]
	if !ok || !known {
		return false
	}
	keys, params, _ := strings.Cut(rest, " ")
	for i := 0; ; i++ {
		key, more, again := strings.Cut(keys, ";")
		if i == 4 || !cryptoKeyOK(key, keyLen) {
			return false
		}
		if !again {
			break
		}
		keys = more
	}
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, " ")
		name, value, hasValue := strings.Cut(p, "=")
		switch {
		case !hasValue && cryptoSessionParams[name]:
		case hasValue && name == "KDR":
			if _, ok := number(value, 2); !ok {
				return false
			}
		case hasValue && name == "WSH":
			if _, ok := number(value, 5); !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// cryptoKeyOK checks "inline:<base64 key||salt>[|<lifetime>][|<mki>:<len>]".
func cryptoKeyOK(s string, keyLen int) bool {
	s, ok := strings.CutPrefix(s, "inline:")
	if !ok {
		return false
	}
	key, rest, _ := strings.Cut(s, "|")
	if base64Len(key) != keyLen {
		return false
	}
	for i := 0; rest != ""; i++ {
		var f string
		f, rest, _ = strings.Cut(rest, "|")
		mki, size, isMKI := strings.Cut(f, ":")
		switch {
		case i > 1:
			return false
		case isMKI:
			_, okMKI := number(mki, maxDigits)
			_, okSize := number(size, 3)
			if !okMKI || !okSize || rest != "" {
				return false
			}
		case i == 0:
			if exp, ok := strings.CutPrefix(f, "2^"); ok {
				if n, ok := number(exp, 2); !ok || n > 64 {
					return false
				}
			} else if !isNumber(f) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// base64Len is the number of bytes s decodes to as standard base64 with or
// without padding, or -1 when it is not base64.
func base64Len(s string) int {
	pad := 0
	for pad < 2 && strings.HasSuffix(s[:len(s)-pad], "=") {
		pad++
	}
	body := s[:len(s)-pad]
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return -1
		}
	}
	switch {
	case body == "":
		return -1
	case pad > 0 && len(s)%4 != 0, len(body)%4 == 1:
		return -1
	}
	return len(body) * 6 / 8
}

// checkBandwidth: "<type>:<kbit/s or bit/s>".
func checkBandwidth(v string) bool {
	typ, n, ok := strings.Cut(v, ":")
	return ok && bandwidthTypes[typ] && isNumber(n)
}
