// Command webhooksink is the platform's webhook receiver for load runs
// (docs/PERFORMANCE.md): it answers every POST 204 and, when stopped
// (SIGINT, SIGTERM), prints how many POSTs and events it took. It does not
// verify signatures: a real receiver runs elsewhere, and checking here
// would take the engine's CPU.
//
//	go run ./internal/cmd/webhooksink -listen 127.0.0.1:18090
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18090", "address to listen on (loopback)")
	flag.Parse()
	var posts, events atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		posts.Add(1)
		// Every event holds its record as "call"; counting them costs
		// this process far less than parsing the batch would.
		events.Add(int64(bytes.Count(body, []byte(`"call":{`))))
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Addr: *listen, Handler: h}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "webhooksink:", err)
		os.Exit(1)
	}
	fmt.Printf("webhooksink: %d posts, %d events\n", posts.Load(), events.Load())
}
