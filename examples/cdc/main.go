// Command cdc shows change data capture end to end: two instances of a
// read-through cache of products (tiered.Cache, loading rows from
// PostgreSQL), a plain SQL UPDATE that no cache hears of, and a CDC
// consumer (pgsource.Source feeding a cdc.Engine, which evicts through a
// tiered.Invalidator) that drops the changed rows from L2 and from both
// instances' L1, so that both serve the new rows.
//
// It starts a throwaway PostgreSQL server (the PostgreSQL binaries must be
// installed) and an embedded Redis (miniredis), and removes both at the
// end:
//
//	go run .
//	go run . -dsn 'postgres://postgres@127.0.0.1:5432/app?sslmode=disable'
//
// With -dsn it uses that server instead: it needs wal_level=logical, and a
// user with the REPLICATION attribute who may create tables. The program
// creates a table, a publication and a replication slot there, and drops
// them at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/pgsource"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

const (
	// table is the program's table. It must not exist when the program
	// starts: the program drops it at the end.
	table = "tiercache_example_products"
	// cdcName names both the replication slot and the publication that
	// the source creates, and the program drops at the end.
	cdcName = "tiercache_example"
	// namespace is the caches' Name, and the namespace of the CDC rule.
	namespace = "product"
	// busKey authenticates the bus's messages (redisbus.Options.Keys):
	// both instances and the CDC consumer sign what they publish with it
	// and drop every message not signed with it, so that nobody else who
	// can PUBLISH on the Redis channel is heard. Every process of the
	// namespace needs the same key. Load 32 random bytes from your secret
	// store; this 32-byte string is for the example only.
	busKey = "example only: not a secret key!!"
	// waitTimeout bounds every wait: for subscriptions, for the source to
	// connect, for the new rows.
	waitTimeout = 10 * time.Second
)

// needPostgres says how to get a server when none could be started.
const needPostgres = `This example needs PostgreSQL. Install it, so that the program can start
a throwaway server (initdb and postgres on PATH or in /usr/lib/postgresql/VERSION/bin):

    apt-get install postgresql        # Debian, Ubuntu

or give it an existing server with wal_level=logical:

    go run . -dsn 'postgres://USER@HOST:5432/DB?sslmode=disable'`

// Product is a row of the table.
type Product struct {
	ID    int64
	Name  string
	Price int64 // cents
}

func (p Product) String() string {
	return fmt.Sprintf("%s $%d.%02d", p.Name, p.Price/100, p.Price%100)
}

// products are the rows the program starts with.
func products() []Product {
	return []Product{
		{ID: 1, Name: "Gopher mug", Price: 1200},
		{ID: 2, Name: "Go book", Price: 4000},
		{ID: 3, Name: "Redis book", Price: 3500},
	}
}

// database is the source of truth of both instances.
type database struct {
	pool    *pgxpool.Pool
	queries atomic.Int64
}

// Product reads a row: it is the caches' loader, one query per call.
func (db *database) Product(ctx context.Context, id int64) (Product, error) {
	db.queries.Add(1)
	p := Product{ID: id}
	err := db.pool.QueryRow(ctx, "SELECT name, price FROM "+table+" WHERE id = $1", id).Scan(&p.Name, &p.Price)
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, fmt.Errorf("product %d: %w", id, tiered.ErrNotFound)
	}
	return p, err
}

// instance is one copy of the service: its own Redis client, bus and cache.
type instance struct {
	name  string
	rdb   *redis.Client
	bus   *redisbus.Bus
	l1    *l1.Ristretto
	stats *stats.Counter
	cache *tiered.Cache[int64, Product]
}

func newInstance(addr, name string, db *database) (*instance, error) {
	in := &instance{name: name, stats: &stats.Counter{}}
	in.rdb = redis.NewClient(&redis.Options{Addr: addr})
	var err error
	in.bus, err = redisbus.New(in.rdb, &redisbus.Options{
		ID:   "instance-" + strings.ToLower(name),
		Keys: [][]byte{[]byte(busKey)},
	})
	if err != nil {
		_ = in.rdb.Close()
		return nil, err
	}
	// The default L1, made here so that get can wait for it (see get).
	// The cache owns it and closes it.
	in.l1, err = l1.NewRistretto(l1.Options{})
	if err != nil {
		_ = in.bus.Close()
		_ = in.rdb.Close()
		return nil, err
	}
	in.cache, err = tiered.New(&tiered.Options[int64, Product]{
		Name:   namespace,
		L1:     in.l1,
		L2:     redisstore.New(in.rdb, nil),
		Bus:    in.bus,
		Loader: loader.Func[int64, Product](db.Product),
		Stats:  in.stats,
	})
	if err != nil {
		in.l1.Close()
		_ = in.bus.Close()
		_ = in.rdb.Close()
		return nil, err
	}
	return in, nil
}

// Close closes the cache (it unsubscribes from the bus), then the bus
// (which does not close the client), then the client.
func (in *instance) Close() {
	_ = in.cache.Close()
	_ = in.bus.Close()
	_ = in.rdb.Close()
}

// get reads id and says where the value came from, by the counter the read
// moved.
func (in *instance) get(ctx context.Context, id int64) (Product, string, error) {
	before := in.stats.Snapshot()
	p, err := in.cache.Get(ctx, id)
	// L1 (ristretto) makes a new entry visible asynchronously: wait for
	// it, so that the next Get of id is an L1 hit for sure.
	in.l1.Wait()
	after := in.stats.Snapshot()
	from := "?"
	switch {
	case after.Get(stats.L1Hit) > before.Get(stats.L1Hit):
		from = "L1"
	case after.Get(stats.L2Hit) > before.Get(stats.L2Hit):
		from = "L2"
	case after.Loads() > before.Loads():
		from = "database"
	}
	return p, from, err
}

// consumer is the CDC side, a process of its own in production: its own
// Redis client and bus, an Invalidator of the namespace (no L1, no
// loader), an engine that maps a row of the table to its key, and the
// source that streams the table's changes to the engine.
type consumer struct {
	rdb    *redis.Client
	bus    *redisbus.Bus
	inv    *tiered.Invalidator
	stats  *stats.Counter // the engine's: changes applied, commit-to-eviction lag
	src    *pgsource.Source
	stop   context.CancelFunc
	done   chan struct{} // closed when Run has returned
	runErr error         // Run's error; read it once done is closed
}

// startConsumer starts streaming the changes of rule.Table. It creates
// the publication and the slot (named cdcName) when they are missing.
func startConsumer(ctx context.Context, addr, dsn string, rule cdc.Rule, logger *slog.Logger) (c *consumer, err error) {
	c = &consumer{stats: &stats.Counter{}, done: make(chan struct{})}
	c.rdb = redis.NewClient(&redis.Options{Addr: addr})
	defer func() {
		if err != nil {
			c.closeClients()
		}
	}()
	if c.bus, err = redisbus.New(c.rdb, &redisbus.Options{ID: "cdc", Keys: [][]byte{[]byte(busKey)}}); err != nil {
		return nil, err
	}
	// The Invalidator's L2 and bus are the caches': a Delete leaves a
	// tombstone in L2 and drops the keys from every instance's L1.
	c.inv, err = tiered.NewInvalidator(&tiered.InvalidatorOptions{
		Name: namespace,
		L2:   redisstore.New(c.rdb, nil),
		Bus:  c.bus,
	})
	if err != nil {
		return nil, err
	}
	engine, err := cdc.New(&cdc.Options{
		Rules:   []cdc.Rule{rule},
		Targets: map[string]cdc.Target{namespace: c.inv},
		Stats:   c.stats,
		Logger:  logger,
	})
	if err != nil {
		return nil, err
	}
	c.src, err = pgsource.New(&pgsource.Options{
		DSN:               dsn,
		Slot:              cdcName,
		Publication:       cdcName,
		CreatePublication: true, // FOR TABLE rule.Table
		CreateSlot:        true,
		Engine:            engine,
		Logger:            logger,
	})
	if err != nil {
		return nil, err
	}
	ctx, c.stop = context.WithCancel(ctx)
	go func() {
		defer close(c.done)
		c.runErr = c.src.Run(ctx)
	}()
	return c, nil
}

// waitConnected waits until the source has its slot: the changes
// committed from then on reach the engine. It fails when Run returned
// (wal_level is not logical, the user may not replicate...): Close
// returns Run's error.
func (c *consumer) waitConnected(ctx context.Context) error {
	return waitFor(ctx, "the CDC source to connect", func() (bool, error) {
		select {
		case <-c.done:
			return false, errors.New("the CDC source stopped before it connected")
		default:
			return c.src.Confirmed() > 0, nil
		}
	})
}

// Close stops the source and waits until Run has returned (its
// connections are closed then), then closes the Invalidator, the bus and
// the client. It returns Run's error, unless Run ended because it was
// stopped.
func (c *consumer) Close() error {
	c.stop()
	<-c.done
	c.closeClients()
	if c.runErr == nil || errors.Is(c.runErr, context.Canceled) {
		return nil
	}
	return fmt.Errorf("CDC source: %w", c.runErr)
}

// closeClients closes the Invalidator (its background work), the bus
// (which does not close the client), then the client.
func (c *consumer) closeClients() {
	if c.inv != nil {
		_ = c.inv.Close()
	}
	if c.bus != nil {
		_ = c.bus.Close()
	}
	_ = c.rdb.Close()
}

// waitFor polls cond every millisecond until it holds or fails, and fails
// after waitTimeout. Invalidations arrive asynchronously: the program
// waits for their outcome rather than sleeping.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

func main() {
	dsn := flag.String("dsn", "", "`URL` of an existing PostgreSQL server with wal_level=logical\n(default: start a throwaway server)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout, *dsn)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cdc:", err)
		os.Exit(1)
	}
}

// run runs the example on the PostgreSQL server of dsn, or on a throwaway
// one when dsn is empty, and writes what happens to out.
func run(ctx context.Context, out io.Writer, dsn string) (err error) {
	var where string
	if dsn == "" {
		// pgtest is the tests' harness: this module may import it because
		// its path is under github.com/tiercache/tiercache.
		start := time.Now()
		srv, startErr := pgtest.StartServer()
		if startErr != nil {
			if ctx.Err() != nil {
				return ctx.Err() // Ctrl-C reached initdb too
			}
			return fmt.Errorf("cannot start a throwaway PostgreSQL server: %w\n\n%s", startErr, needPostgres)
		}
		defer func() { err = errors.Join(err, srv.Close()) }()
		dsn = srv.DSN("postgres")
		where = fmt.Sprintf("throwaway server on %s, started in %v", srv.Addr(), time.Since(start).Round(time.Millisecond))
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	if where == "" {
		cfg := pool.Config().ConnConfig
		where = fmt.Sprintf("the server of -dsn, %s:%d database %s", cfg.Host, cfg.Port, cfg.Database)
	}
	version, err := preflight(ctx, pool)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "PostgreSQL %s: %s\n", version, where)

	mr, err := miniredis.Run()
	if err != nil {
		return err
	}
	defer mr.Close()
	_, _ = fmt.Fprintln(out, "Redis: embedded (miniredis), the L2 and the invalidation bus of both instances")

	// From here on, whatever happens, the program drops what it creates
	// (after the source has stopped: the defers run in reverse order),
	// even when ctx is canceled (Ctrl-C).
	defer func() { err = errors.Join(err, dropAll(context.WithoutCancel(ctx), pool)) }()
	if err := createTable(ctx, pool); err != nil {
		return err
	}
	var schema string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "table %s.%s: %d products\n", schema, table, len(products()))

	// The CDC consumer: an update of a row evicts the key "{id}" of
	// namespace product, exactly the key that a Cache[int64, Product]
	// named product gives the int64 id. Warnings (a reconnection...) go
	// to out.
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rule := cdc.Rule{Table: schema + "." + table, Namespace: namespace, Keys: []string{"{id}"}}
	cons, err := startConsumer(ctx, mr.Addr(), dsn, rule, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cons.Close()) }()
	if err := cons.waitConnected(ctx); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "CDC: slot %q streams publication %q (table %s) to namespace %q, from position %v\n",
		cdcName, cdcName, rule.Table, namespace, cons.src.Confirmed())

	db := &database{pool: pool}
	var instances []*instance
	for _, name := range []string{"A", "B"} {
		in, err := newInstance(mr.Addr(), name, db)
		if err != nil {
			return err
		}
		defer in.Close()
		instances = append(instances, in)
	}
	a, b := instances[0], instances[1]
	// A cache uses its L1 only once its subscription is in place.
	for _, in := range instances {
		if err := waitFor(ctx, "instance "+in.name+" to subscribe", func() (bool, error) {
			return in.stats.Snapshot().Get(stats.Subscribed) > 0, nil
		}); err != nil {
			return err
		}
	}

	// read prints one Get of id on in.
	read := func(in *instance, id int64) error {
		p, from, err := in.get(ctx, id)
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(out, "   %s get %d -> %-18s (%s)\n", in.name, id, p, from)
		return nil
	}

	_, _ = fmt.Fprintln(out, "\n1. A and B read every product, twice each")
	for _, p := range products() {
		for _, in := range []*instance{a, a, b, b} {
			if err := read(in, p.ID); err != nil {
				return err
			}
		}
	}

	// 20% off products 1 and 2: what the UPDATE below makes of them.
	var changed []Product
	for _, p := range products()[:2] {
		p.Price = p.Price * 80 / 100
		changed = append(changed, p)
	}
	update := "UPDATE " + table + " SET price = price * 80 / 100 WHERE id IN (1, 2)"
	_, _ = fmt.Fprintf(out, "\n2. A plain SQL UPDATE, straight in the database: no cache hears of it\n   %s\n", update)
	if _, err := pool.Exec(ctx, update); err != nil {
		return err
	}
	if err := waitNewRows(ctx, out, instances, changed, time.Now()); err != nil {
		return err
	}
	// The engine counts a batch once its evictions are applied: a moment
	// after the instances may have heard of them.
	if err := waitFor(ctx, "the engine to count the changes", func() (bool, error) {
		return cons.stats.Snapshot().Get(stats.CDCApplied) >= int64(len(changed)), nil
	}); err != nil {
		return err
	}
	s := cons.stats.Snapshot()
	var lag time.Duration
	if n := s.Get(stats.CDCLag); n > 0 {
		lag = s.Duration(stats.CDCLag) / time.Duration(n)
	}
	_, _ = fmt.Fprintf(out, "   CDC applied %d changes, %v from commit to eviction on average; A dropped %d keys from its L1, B %d\n",
		s.Get(stats.CDCApplied), lag.Round(100*time.Microsecond),
		a.stats.Snapshot().Get(stats.ReceivedKeys), b.stats.Snapshot().Get(stats.ReceivedKeys))

	_, _ = fmt.Fprintln(out, "\n3. A and B read every product again: product 3, unchanged, was never evicted")
	for _, p := range products() {
		for _, in := range instances {
			if err := read(in, p.ID); err != nil {
				return err
			}
		}
	}
	_, _ = fmt.Fprintf(out, "\ndatabase queries: %d\n", db.queries.Load())
	return nil
}

// waitNewRows polls every instance until each serves the changed rows,
// and prints, for each instance and row, where its first read of the new
// row got it from and when, counted from the UPDATE's end (start).
func waitNewRows(ctx context.Context, out io.Writer, instances []*instance, changed []Product, start time.Time) error {
	type read struct {
		in *instance
		id int64
	}
	type served struct {
		from  string
		after time.Duration
	}
	first := make(map[read]served)
	err := waitFor(ctx, "both instances to serve the new rows", func() (bool, error) {
		for _, in := range instances {
			for _, want := range changed {
				if _, ok := first[read{in, want.ID}]; ok {
					continue
				}
				p, from, err := in.get(ctx, want.ID)
				if err != nil {
					return false, err
				}
				if p == want {
					first[read{in, want.ID}] = served{from, time.Since(start)}
				}
			}
		}
		return len(first) == len(instances)*len(changed), nil
	})
	if err != nil {
		return err
	}
	for _, in := range instances {
		for _, p := range changed {
			s := first[read{in, p.ID}]
			_, _ = fmt.Fprintf(out, "   %s get %d -> %-18s (%s, %v after the UPDATE)\n",
				in.name, p.ID, p, s.from, s.after.Round(100*time.Microsecond))
		}
	}
	return nil
}

// preflight returns the server's version after checking that it can
// stream logical changes, and that nothing the program creates (and drops)
// exists already: it drops only what it created.
func preflight(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var (
		version, walLevel                  string
		tableExists, pubExists, slotExists bool
	)
	err := pool.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('wal_level'),
		to_regclass($1) IS NOT NULL,
		EXISTS (SELECT FROM pg_publication WHERE pubname = $2),
		EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $2)`, table, cdcName).
		Scan(&version, &walLevel, &tableExists, &pubExists, &slotExists)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL: %w", err)
	}
	version, _, _ = strings.Cut(version, " ") // "15.18 (Debian 15.18-0+deb12u1)"
	if walLevel != "logical" {
		return "", fmt.Errorf("PostgreSQL has wal_level=%s; change data capture needs wal_level=logical "+
			"(ALTER SYSTEM SET wal_level = logical, then restart the server)", walLevel)
	}
	var drop []string
	if tableExists {
		drop = append(drop, "DROP TABLE "+table)
	}
	if pubExists {
		drop = append(drop, "DROP PUBLICATION "+cdcName)
	}
	if slotExists {
		drop = append(drop, "SELECT pg_drop_replication_slot('"+cdcName+"')")
	}
	if len(drop) > 0 {
		return "", fmt.Errorf("PostgreSQL has objects of an earlier run, which this program drops only when it "+
			"created them; drop them yourself: %s", strings.Join(drop, "; "))
	}
	return version, nil
}

// createTable creates the table and its rows.
func createTable(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (id bigint PRIMARY KEY, name text NOT NULL, price bigint NOT NULL)"); err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	for _, p := range products() {
		if _, err := pool.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2, $3)", p.ID, p.Name, p.Price); err != nil {
			return err
		}
	}
	return nil
}

// dropAll drops the replication slot, the publication and the table. The
// server lets go of the slot a moment after the source stopped: until
// then it cannot be dropped.
func dropAll(ctx context.Context, pool *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	slot := waitFor(ctx, "the replication slot to be released", func() (bool, error) {
		var active bool
		err := pool.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", cdcName).Scan(&active)
		switch {
		case errors.Is(err, pgx.ErrNoRows): // never created, or dropped
			return true, nil
		case err != nil || active:
			return false, err
		}
		_, err = pool.Exec(ctx, "SELECT pg_drop_replication_slot($1)", cdcName)
		return err == nil, err
	})
	_, pub := pool.Exec(ctx, "DROP PUBLICATION IF EXISTS "+cdcName)
	_, tab := pool.Exec(ctx, "DROP TABLE IF EXISTS "+table)
	return errors.Join(slot, pub, tab)
}
