package b2bua

import (
	"os"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/sipedge"
)

// TestMain sets what cmd/xbridge's main sets for the process before any
// user agent exists: sipgo's UDP message limit, a package variable every
// user agent reads unguarded.
func TestMain(m *testing.M) {
	sip.UDPMTUSize = sipedge.UDPMTUSize
	os.Exit(m.Run())
}
