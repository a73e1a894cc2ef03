package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2/memstore"
)

func ExampleQueueBackend() {
	ctx := context.Background()
	now := time.Unix(0, 0)
	b := memstore.NewQueueBackend(&memstore.QueueOptions{
		Now:        func() time.Time { return now },
		ClaimAfter: time.Minute,
	})
	dead, live := b.Queue("users", "a"), b.Queue("users", "b")

	_, _ = dead.Add(ctx, []string{"user:42"})
	entries, _ := dead.Read(ctx, 10) // and a dies before Ack
	fmt.Println(len(entries))

	entries, _ = live.Read(ctx, 10)
	fmt.Println(len(entries)) // a holds it

	now = now.Add(time.Minute) // the claim timeout passes
	entries, _ = live.Read(ctx, 10)
	fmt.Println(entries[0].Key, entries[0].Deliveries)
	_, _ = live.Ack(ctx, entries)
	// Output:
	// 1
	// 0
	// user:42 2
}
