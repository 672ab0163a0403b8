package sipedge

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// What an INVITE says about its caller comes in two kinds, and routing
// decides which counts (routing.Call in b2bua): the From user, which is the caller
// from any source, and the network-asserted identity, which only a trusted
// source's word makes the caller.

// CallerFrom is the From user.
func CallerFrom(req *sip.Request) string {
	if from := req.From(); from != nil {
		return uriUser(&from.Address)
	}
	return ""
}

// AssertedCaller is the network-asserted identity: the first
// P-Asserted-Identity (RFC 3325), else the calling party of Remote-Party-ID
// (the draft older SBCs still send), else empty.
func AssertedCaller(req *sip.Request) string {
	// Lower-case names: sipgo lowers (and allocates) any other spelling.
	if h := req.GetHeader("p-asserted-identity"); h != nil {
		if user := addressUser(h.Value()); user != "" {
			return user
		}
	}
	for _, h := range req.Headers() {
		if strings.EqualFold(h.Name(), "Remote-Party-ID") {
			if user := rpidCaller(h.Value()); user != "" {
				return user
			}
		}
	}
	return ""
}

// rpidCaller is the user of a Remote-Party-ID value naming the calling
// party (party=calling, or no party parameter, which means the same); a
// value for the called party is not the caller.
func rpidCaller(value string) string {
	var u sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(strings.TrimSpace(value), &u, &params); err != nil {
		return ""
	}
	if party, ok := params.Get("party"); ok && !strings.EqualFold(party, "calling") {
		return ""
	}
	return uriUser(&u)
}
