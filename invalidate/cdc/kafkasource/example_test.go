package kafkasource_test

import (
	"context"
	"crypto/tls"
	"os"
	"os/signal"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/kafkasource"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/tiered"
)

// A service's CDC consumer: the changes of public.users, read from
// Debezium's topic, evict the "user" namespace of every instance.
func ExampleNew() {
	// In a service: the namespace's L2 store and bus (redisstore,
	// redisbus), as its caches have them.
	users, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "user", L2: memstore.New(nil)})
	if err != nil {
		panic(err)
	}
	defer func() { _ = users.Close() }()
	engine, err := cdc.New(&cdc.Options{
		Rules:   []cdc.Rule{{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}}},
		Targets: map[string]cdc.Target{"user": users},
	})
	if err != nil {
		panic(err)
	}
	src, err := kafkasource.New(&kafkasource.Options{
		Brokers:       []string{"kafka-1:9093", "kafka-2:9093"},
		Group:         "user-service-cache",
		Topics:        []string{"dbserver1.public.users"},
		Engine:        engine,
		ClientOptions: []kgo.Opt{kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})},
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := src.Run(ctx); err != nil { // until Ctrl-C
		panic(err)
	}
}
