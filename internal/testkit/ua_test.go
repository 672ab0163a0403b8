package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestUARoundTrip: a UA serving UDP answers another's OPTIONS, and the
// answer comes back to the sender's own address.
func TestUARoundTrip(t *testing.T) {
	server := NewUA(t, "server", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	got := make(chan string, 1)
	server.Server.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		got <- req.Source()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	server.ServeUDP()
	server.ServeTCP()
	client := NewUA(t, "client", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	client.ServeUDP()

	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", User: "server", Host: server.Host, Port: server.Port})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "client", Host: client.Host}, Params: Params("tag", "t1")})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "server", Host: server.Host}, Params: sip.NewParams()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := client.Client.Do(ctx, req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %v %v", res, err)
	}
	if src := <-got; src != client.Addr {
		t.Errorf("the request came from %s, want %s", src, client.Addr)
	}
	if c := client.Dialog.ContactHDR.Address; c.User != "client" || c.Port != client.Port {
		t.Errorf("contact %v", c)
	}
}
