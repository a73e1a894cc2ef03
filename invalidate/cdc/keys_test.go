package cdc_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// orderKey is a composite key, written by its cache's Options.Key as
// "<user>:<id>".
type orderKey struct{ User, ID int64 }

// The keys a rule produces are exactly those the typed caches' Options.Key
// produces: a change applied through the engine evicts the cached value
// from L2 and from another instance's L1, for an int64 key beyond 2^53
// (Key's default), a string key (a UUID) and a composite key (a Key
// function), so that the next Get loads the new row.
func TestKeysMatchOptionsKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hub := invalidate.NewHub()
	store := memstore.New(nil)
	t.Cleanup(func() { _ = store.Close() })
	var version atomic.Int64 // the "database": every row is at this version

	// instance builds a typed cache of namespace name on its own bus, and
	// waits for its subscription.
	instance := func(id string) (*tiered.Cache[int64, string], *tiered.Cache[string, string], *tiered.Cache[orderKey, string]) {
		bus := hub.NewBus(id)
		t.Cleanup(func() { _ = bus.Close() })
		row := func(k any) string { return fmt.Sprintf("%v@%d", k, version.Load()) }
		st := &stats.Counter{}
		users, err := tiered.New(&tiered.Options[int64, string]{Name: "user", L2: store, Bus: bus, Stats: st,
			Loader: loader.Func[int64, string](func(_ context.Context, k int64) (string, error) { return row(k), nil })})
		if err != nil {
			t.Fatal(err)
		}
		sessions, err := tiered.New(&tiered.Options[string, string]{Name: "session", L2: store, Bus: bus, Stats: st,
			Loader: loader.Func[string, string](func(_ context.Context, k string) (string, error) { return row(k), nil })})
		if err != nil {
			t.Fatal(err)
		}
		orders, err := tiered.New(&tiered.Options[orderKey, string]{Name: "order", L2: store, Bus: bus, Stats: st,
			Key:    func(k orderKey) string { return fmt.Sprintf("%d:%d", k.User, k.ID) },
			Loader: loader.Func[orderKey, string](func(_ context.Context, k orderKey) (string, error) { return row(k), nil })})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = users.Close(); _ = sessions.Close(); _ = orders.Close() })
		waitFor(t, "the subscriptions", func() bool { return st.Snapshot().Get(stats.Subscribed) == 3 })
		return users, sessions, orders
	}
	users, sessions, orders := instance("a")

	const bigID = int64(1<<53 + 1) // 9007199254740993: not a float64
	const uuid = "550e8400-e29b-41d4-a716-446655440000"
	ok := orderKey{User: 7, ID: 70}
	read := func() (string, string, string) {
		u, err1 := users.Get(ctx, bigID)
		s, err2 := sessions.Get(ctx, uuid)
		o, err3 := orders.Get(ctx, ok)
		if err := errorsJoin(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		return u, s, o
	}
	read() // cached at version 0 in L2 and in instance a's L1

	targets := map[string]cdc.Target{}
	for _, ns := range []string{"user", "session", "order"} {
		iv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: ns, L2: store, Bus: hub.NewBus("cdc-" + ns)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = iv.Close() })
		targets[ns] = iv
	}
	e, err := cdc.New(&cdc.Options{Targets: targets, Rules: []cdc.Rule{
		{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}},
		{Table: "public.sessions", Namespace: "session", Keys: []string{"{token}"}},
		{Table: "public.orders", Namespace: "order", Keys: []string{"{user_id}:{id}"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	version.Store(1) // the database changes behind the caches' back
	err = e.Apply(ctx, []cdc.Event{
		{Table: cdc.Table{Schema: "public", Name: "users"}, Op: cdc.Update, After: cdc.Row{"id": "9007199254740993"}},
		{Table: cdc.Table{Schema: "public", Name: "sessions"}, Op: cdc.Update, After: cdc.Row{"token": uuid}},
		{Table: cdc.Table{Schema: "public", Name: "orders"}, Op: cdc.Update, After: cdc.Row{"user_id": "7", "id": "70"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The bus delivers asynchronously: the new rows show up once the
	// messages are applied.
	want := [3]string{fmt.Sprintf("%d@1", bigID), uuid + "@1", "{7 70}@1"}
	waitFor(t, fmt.Sprint("the new rows ", want), func() bool {
		u, s, o := read()
		return [3]string{u, s, o} == want
	})
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
