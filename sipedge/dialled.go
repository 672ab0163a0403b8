package sipedge

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// dialledDigitParams are the Request-URI parameters a carrier may put the
// digits dialled after X in; routing.ExtensionParam reads the same three.
var dialledDigitParams = [...]string{"ext", "postd", "isub"}

// DialledParams are the Request-URI's ext, postd and isub parameters,
// names in lower case (";ext=1234" on the SIP URI; parameters inside the
// user part or a tel: URI stay with the number, DialledNumber). Nil when
// it has none, which is every ordinary call: the map is made only for a
// call that carries one, not for the ;user=phone nearly every INVITE has.
func DialledParams(req *sip.Request) map[string]string {
	params := req.Recipient.UriParams
	if params == nil || params.Length() == 0 {
		return nil
	}
	var out map[string]string
	for k, v := range params.Items() {
		for _, name := range dialledDigitParams {
			if strings.EqualFold(k, name) {
				if out == nil {
					out = make(map[string]string, 1)
				}
				out[name] = v
			}
		}
	}
	return out
}
