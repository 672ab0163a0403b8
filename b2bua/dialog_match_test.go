package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// inDialog is a request of the dialog callID with From-tag from and To-tag
// to (empty: none), received from src.
func inDialog(callID, from, to, src string) *sip.Request {
	req := sip.NewRequest(sip.BYE, sip.Uri{Scheme: "sip", Host: "127.0.0.1"})
	fp, tp := sip.NewParams(), sip.NewParams()
	if from != "" {
		fp.Add("tag", from)
	}
	if to != "" {
		tp.Add("tag", to)
	}
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", Host: "a.example"}, Params: fp})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: "x.example"}, Params: tp})
	id := sip.CallIDHeader(callID)
	req.AppendHeader(&id)
	req.SetSource(src)
	return req
}

func TestLegPeerAdmits(t *testing.T) {
	answered := &legPeer{callID: "c1", remote: "theirs", local: "ours", peers: appendPeers(nil, "198.51.100.7:5060", "[2001:db8::5]", "sbc.example")}
	calling := &legPeer{callID: "c1", local: "ours", peers: appendPeers(nil, "198.51.100.7")}
	byName := &legPeer{callID: "c1", local: "ours"} // a trunk given by name, before its 2xx
	cases := []struct {
		name string
		peer *legPeer
		req  *sip.Request
		want string
	}{
		{"the dialog's", answered, inDialog("c1", "theirs", "ours", "198.51.100.7:5060"), ""},
		{"another port of the peer", answered, inDialog("c1", "theirs", "ours", "198.51.100.7:41234"), ""},
		{"the IPv6 route hop", answered, inDialog("c1", "theirs", "ours", "[2001:db8::5]:5060"), ""},
		{"IPv4-mapped source", answered, inDialog("c1", "theirs", "ours", "[::ffff:198.51.100.7]:5060"), ""},
		{"a stranger", answered, inDialog("c1", "theirs", "ours", "203.0.113.9:5060"), mismatchSource},
		{"the next address of the peer's", answered, inDialog("c1", "theirs", "ours", "198.51.100.8:5060"), mismatchSource},
		{"another From-tag", answered, inDialog("c1", "other", "ours", "198.51.100.7:5060"), mismatchTags},
		{"another To-tag", answered, inDialog("c1", "theirs", "other", "198.51.100.7:5060"), mismatchTags},
		{"no To-tag", answered, inDialog("c1", "theirs", "", "198.51.100.7:5060"), mismatchTags},
		{"no From-tag", answered, inDialog("c1", "", "ours", "198.51.100.7:5060"), mismatchTags},
		{"tags swapped", answered, inDialog("c1", "ours", "theirs", "198.51.100.7:5060"), mismatchTags},
		{"before the 2xx: any tag of B's", calling, inDialog("c1", "b-tag", "ours", "198.51.100.7:5060"), ""},
		{"before the 2xx: from a stranger", calling, inDialog("c1", "b-tag", "ours", "203.0.113.9:5060"), mismatchSource},
		{"before the 2xx: no tag of B's", calling, inDialog("c1", "", "ours", "198.51.100.7:5060"), mismatchTags},
		{"trunk by name before the 2xx: tags suffice", byName, inDialog("c1", "b-tag", "ours", "203.0.113.9:5060"), ""},
		{"no INVITE sent yet", nil, inDialog("c1", "b-tag", "ours", "198.51.100.7:5060"), mismatchTags},
	}
	for _, tc := range cases {
		if got := tc.peer.admits(tc.req); got != tc.want {
			t.Errorf("%s: admits = %q, want %q", tc.name, got, tc.want)
		}
	}
	if n := len(answered.peers); n != 2 {
		t.Errorf("peers %v: a host name must not be a peer", answered.peers)
	}
}

// BenchmarkLegPeerAdmits is the check every in-dialog request passes.
func BenchmarkLegPeerAdmits(b *testing.B) {
	p := &legPeer{callID: "c1", remote: "theirs", local: "ours", peers: appendPeers(nil, "198.51.100.7:5060", "198.51.100.9")}
	req := inDialog("c1", "theirs", "ours", "198.51.100.9:5060")
	b.ReportAllocs()
	for b.Loop() {
		if p.admits(req) != "" {
			b.Fatal("refused")
		}
	}
}
