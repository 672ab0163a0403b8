package sipedge

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// DialledParams are the Request-URI's parameters, names in lower case, where
// a carrier may put digits dialled after X (";ext=1234" on the SIP URI;
// parameters inside the user part or a tel: URI stay with the number,
// DialledNumber). Nil when there are none.
func DialledParams(req *sip.Request) map[string]string {
	params := req.Recipient.UriParams
	if params == nil || params.Length() == 0 {
		return nil
	}
	out := make(map[string]string, params.Length())
	for k, v := range params.Items() {
		out[strings.ToLower(k)] = v
	}
	return out
}
