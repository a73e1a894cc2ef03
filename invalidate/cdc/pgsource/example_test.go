package pgsource_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/pgsource"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered"
)

// A CDC consumer: the changes of table users evict the keys of namespace
// "user" from L2 and from every instance's L1. It needs a server, so it
// has no output.
func Example() {
	var (
		store l2.Store       // the caches' L2, e.g. a redisstore.Store
		bus   invalidate.Bus // the caches' bus, e.g. a redisbus.Bus
	)
	users, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "user", L2: store, Bus: bus})
	if err != nil {
		panic(err)
	}
	defer func() { _ = users.Close() }()
	engine, err := cdc.New(&cdc.Options{
		Rules: []cdc.Rule{
			{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}, Tags: []string{"company:{company_id}"}},
		},
		Targets: map[string]cdc.Target{"user": users},
	})
	if err != nil {
		panic(err)
	}
	src, err := pgsource.New(&pgsource.Options{
		DSN:               "postgres://cdc@db.internal:5432/app",
		Engine:            engine,
		CreatePublication: true, // FOR TABLE public.users
		CreateSlot:        true,
		Logger:            slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// The tag needs REPLICA IDENTITY FULL: Check (and Run, in its log) says so.
	if warnings, err := src.Check(ctx); err == nil {
		for _, w := range warnings {
			log.Print(w)
		}
	}
	if err := src.Run(ctx); !errors.Is(err, context.Canceled) {
		panic(err) // a configuration error: a missing slot, a refused login...
	}
}
