package redisbus_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
)

// printer is a Handler that prints what it gets and signals each message.
type printer struct{ got chan struct{} }

func (p printer) Receive(m *invalidate.Message) {
	fmt.Printf("%s from %s: %v\n", m.Namespace, m.Origin, m.Keys)
	p.got <- struct{}{}
}

func (p printer) Lost(r invalidate.LostReason) {
	fmt.Println("lost:", r) // the first subscription, then any loss
	p.got <- struct{}{}
}

func ExampleNew() {
	mr, err := miniredis.Run() // in production: your Redis, Sentinel or Cluster
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer func() { _ = rdb.Close() }()

	bus, err := redisbus.New(rdb, &redisbus.Options{ID: "instance-1"})
	if err != nil {
		panic(err)
	}
	defer func() { _ = bus.Close() }()

	p := printer{got: make(chan struct{}, 4)}
	unsubscribe, err := bus.Subscribe("user", p)
	if err != nil {
		panic(err)
	}
	defer unsubscribe()
	<-p.got // subscribed
	if err := bus.Publish(context.Background(), &invalidate.Message{Namespace: "user", Keys: []string{"42"}}); err != nil {
		panic(err)
	}
	<-p.got
	// Output:
	// lost: subscribed
	// user from instance-1: [42]
}

func ExampleBus_Channel() {
	// A client of database 5 (New does not connect).
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379", DB: 5})
	defer func() { _ = rdb.Close() }()
	bus, err := redisbus.New(rdb, &redisbus.Options{Scope: "shop"})
	if err != nil {
		panic(err)
	}
	defer func() { _ = bus.Close() }()
	fmt.Println(bus.Channel("user"))
	// Output:
	// tc:inv:shop:db5:user
}

// Signed messages, during a rotation of keys: the receiver, already on
// [new, old], accepts what the sender, still on [old], signs.
func ExampleOptions_keys() {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer func() { _ = rdb.Close() }()

	// In production: 32 random bytes each (crypto/rand), from a secret store.
	oldKey, newKey := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	sender, err := redisbus.New(rdb, &redisbus.Options{ID: "instance-1", Keys: [][]byte{oldKey}})
	if err != nil {
		panic(err)
	}
	defer func() { _ = sender.Close() }()
	receiver, err := redisbus.New(rdb, &redisbus.Options{ID: "instance-2", Keys: [][]byte{newKey, oldKey}})
	if err != nil {
		panic(err)
	}
	defer func() { _ = receiver.Close() }()

	p := printer{got: make(chan struct{}, 4)}
	unsubscribe, err := receiver.Subscribe("user", p)
	if err != nil {
		panic(err)
	}
	defer unsubscribe()
	<-p.got // subscribed
	if err := sender.Publish(context.Background(), &invalidate.Message{Namespace: "user", Keys: []string{"42"}}); err != nil {
		panic(err)
	}
	<-p.got
	// Output:
	// lost: subscribed
	// user from instance-1: [42]
}

// With a log, each message is also kept in a stream beside the channel,
// from which a subscription that broke replays what it missed.
func ExampleOptions_logLength() {
	mr, err := miniredis.Run() // in production: your Redis, Sentinel or Cluster
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer func() { _ = rdb.Close() }()

	bus, err := redisbus.New(rdb, &redisbus.Options{ID: "instance-1", LogLength: 10_000})
	if err != nil {
		panic(err)
	}
	defer func() { _ = bus.Close() }()
	ctx := context.Background()
	for _, k := range []string{"42", "43"} {
		if err := bus.Publish(ctx, &invalidate.Message{Namespace: "user", Keys: []string{k}}); err != nil {
			panic(err)
		}
	}
	fmt.Println(bus.LogKey("user"), rdb.XLen(ctx, bus.LogKey("user")).Val())
	// Output:
	// {tc:inv:user}:log 2
}
