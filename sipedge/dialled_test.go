package sipedge

import (
	"maps"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestDialledParams(t *testing.T) {
	for uri, want := range map[string]map[string]string{
		"sip:+8617000000001@10.0.0.1;user=phone":             nil,
		"sip:+8617000000001@10.0.0.1":                        nil,
		"sip:+8617000000001@10.0.0.1;user=phone;EXT=1234":    {"ext": "1234"},
		"sip:+8617000000001@10.0.0.1;postd=pp1234;isub=9;lr": {"postd": "pp1234", "isub": "9"},
		"sip:+8617000000001;ext=1234@10.0.0.1;user=phone":    nil, // in the user part: DialledNumber's
	} {
		var u sip.Uri
		if err := sip.ParseUri(uri, &u); err != nil {
			t.Fatal(err)
		}
		req := sip.NewRequest(sip.INVITE, u)
		if got := DialledParams(req); !maps.Equal(got, want) || (want == nil) != (got == nil) {
			t.Errorf("%s: %v, want %v", uri, got, want)
		}
	}
}
