package store_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/xbridge/xbridge/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "xbridge-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "xbridge.db"), store.WithQuarantine(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	if _, err := db.AddAreaNumbers(ctx, "default", "010", []string{"8617000000001", "8617000000002"}); err != nil {
		log.Fatal(err)
	}
	b, _, err := db.CreateBinding(ctx, store.NewBinding{
		Pool: "default", A: "8613800000001", B: "8613900000002",
		OrderID: "order-42", ExpiresAt: time.Now().Add(15 * 24 * time.Hour),
	})
	if err != nil {
		log.Fatal(err)
	}
	// X is drawn at random among the numbers that fit.
	fmt.Println("x in pool:", b.X == "8617000000001" || b.X == "8617000000002", "area:", b.Area)

	// A carrier's INVITE from A for X: who is the other side?
	got, err := db.Lookup(ctx, b.X, "8613800000001")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("call:", got.Counterpart("8613800000001"))

	// The order ends; A calling X now hears "ended", not "unknown".
	if _, err := db.DeleteBinding(ctx, b.ID); err != nil {
		log.Fatal(err)
	}
	_, err = db.Lookup(ctx, b.X, "8613800000001")
	fmt.Println("after delete:", errors.Is(err, store.ErrEnded))
	// Output:
	// x in pool: true area: 010
	// call: 8613900000002
	// after delete: true
}
