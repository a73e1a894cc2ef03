package invalidate_test

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/tiercache/tiercache/invalidate"
)

// printer is a Handler that prints what it is called with.
type printer string

func (p printer) Receive(m *invalidate.Message) {
	fmt.Printf("%s: receive %s#%d %s keys=%q\n", p, m.Origin, m.Seq, m.Namespace, m.Keys)
}

func (p printer) Lost(reason invalidate.LostReason) {
	fmt.Printf("%s: lost (%s): drop everything\n", p, reason)
}

// Two instances, each with its bus on one hub: what one publishes, both
// receive, before Publish returns.
func ExampleHub() {
	ctx := context.Background()
	hub := invalidate.NewHub()
	a, b := hub.NewBus("a"), hub.NewBus("b")
	defer func() { _ = a.Close() }()
	defer func() { _ = b.Close() }()

	unsubscribe, err := b.Subscribe("users", printer("b"))
	if err != nil {
		panic(err)
	}
	defer unsubscribe()

	m := &invalidate.Message{Namespace: "users", Keys: []string{"user:42"}}
	if err := a.Publish(ctx, m); err != nil {
		panic(err)
	}
	fmt.Println("published", m.Origin, m.Seq)
	// Output:
	// b: lost (subscribed): drop everything
	// b: receive a#1 users keys=["user:42"]
	// published a 1
}

// A lost message shows as a gap in the publisher's sequence numbers.
func ExampleMemBus_DropNext() {
	ctx := context.Background()
	hub := invalidate.NewHub()
	a, b := hub.NewBus("a"), hub.NewBus("b")
	defer func() { _ = a.Close() }()
	defer func() { _ = b.Close() }()
	_, _ = b.Subscribe("users", printer("b"))

	for i, key := range []string{"user:1", "user:2", "user:3"} {
		if i == 1 {
			a.DropNext(1) // user:2 gets number 2 and vanishes
		}
		_ = a.Publish(ctx, &invalidate.Message{Namespace: "users", Keys: []string{key}})
	}
	// Output:
	// b: lost (subscribed): drop everything
	// b: receive a#1 users keys=["user:1"]
	// b: lost (gap): drop everything
	// b: receive a#3 users keys=["user:3"]
}

func ExampleMemBus_Reconnect() {
	ctx := context.Background()
	hub := invalidate.NewHub()
	a := hub.NewBus("a")
	defer func() { _ = a.Close() }()
	_, _ = a.Subscribe("users", printer("a"))

	a.Reconnect()
	_ = a.Publish(ctx, &invalidate.Message{Namespace: "users", Flush: true})
	// Output:
	// a: lost (subscribed): drop everything
	// a: lost (resubscribed): drop everything
	// a: receive a#1 users keys=[]
}

func ExampleMessage_MarshalBinary() {
	m := invalidate.Message{Origin: "a", Seq: 1, Sent: 2, Namespace: "users", Keys: []string{"user:42"}}
	data, err := m.MarshalBinary()
	fmt.Printf("%x %v\n", data, err)

	var got invalidate.Message
	err = got.UnmarshalBinary(data)
	fmt.Println(got.Origin, got.Seq, got.Namespace, got.Keys, err)

	err = got.UnmarshalBinary(data[:len(data)-1])
	fmt.Println(errors.Is(err, invalidate.ErrMalformed))
	fmt.Println(err)
	// Output:
	// 9901a1610102a575736572730091a7757365723a343290a0 <nil>
	// a 1 users [user:42] <nil>
	// true
	// invalidate: malformed message: prefix at byte 23: truncated
}

// A bus that caps its messages at 64 bytes cuts a message of many keys;
// it measures the message as it will stamp it, Seq and Sent at their
// longest.
func ExampleMessage_Split() {
	m := invalidate.Message{
		Origin: "a", Seq: math.MaxUint64, Sent: math.MinInt64, Namespace: "users",
		Keys: []string{"user:1", "user:2", "user:3", "user:4", "user:5", "user:6"}, Flush: true,
	}
	fmt.Println(m.EncodedLen(), "bytes")
	pieces, err := m.Split(64)
	if err != nil {
		panic(err)
	}
	for _, p := range pieces {
		fmt.Println(p.EncodedLen(), p.Flush, p.Keys)
	}
	// Output:
	// 74 bytes
	// 60 true [user:1 user:2 user:3 user:4]
	// 46 false [user:5 user:6]
}
