package pgsource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
)

// waitTimeout bounds every wait of the integration tests: generous, since
// they run beside each other on small machines under -race.
const waitTimeout = 30 * time.Second

// pgEnv is a PostgreSQL server for one test, with a connection to its
// database postgres.
type pgEnv struct {
	t    *testing.T
	srv  *pgtest.Server
	conn *pgx.Conn
}

func newPG(t *testing.T, setup string) *pgEnv {
	t.Helper()
	srv := pgtest.NewServer(t)
	if setup != "" {
		if _, err := srv.SQL(t.Context(), "postgres", setup); err != nil {
			t.Fatal(err)
		}
	}
	e := &pgEnv{t: t, srv: srv}
	e.conn = e.connect()
	return e
}

// connect opens a connection to database postgres, closed at the test's end.
func (e *pgEnv) connect() *pgx.Conn {
	e.t.Helper()
	conn, err := pgx.Connect(e.t.Context(), e.srv.DSN("postgres"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func (e *pgEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.conn.Exec(e.t.Context(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// walLSN returns the server's current WAL position.
func (e *pgEnv) walLSN() pglogrepl.LSN {
	e.t.Helper()
	return e.lsn("SELECT pg_current_wal_lsn()::text")
}

// slotLSN returns the confirmed position of slot tiercache.
func (e *pgEnv) slotLSN() pglogrepl.LSN {
	e.t.Helper()
	return e.lsn("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'tiercache'")
}

func (e *pgEnv) lsn(query string) pglogrepl.LSN {
	e.t.Helper()
	var s string
	if err := e.conn.QueryRow(e.t.Context(), query).Scan(&s); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return lsn
}

// options returns Options for the test's server that create the
// publication and the slot, with short intervals.
func (e *pgEnv) options(engine *cdc.Engine) *Options {
	return &Options{
		DSN:               e.srv.DSN("postgres"),
		Engine:            engine,
		CreatePublication: true,
		CreateSlot:        true,
		StatusInterval:    100 * time.Millisecond,
		RetryBackoff:      200 * time.Millisecond,
	}
}

// running is a Source whose Run runs in a goroutine.
type running struct {
	*Source
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// run starts src.Run and returns its handle, stopped at the test's end at
// the latest. It waits until the source has connected once (Confirmed is
// the slot's position).
func run(t *testing.T, src *Source) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Source: src, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// waitConnected waits until the source has connected once.
func (r *running) waitConnected(t *testing.T) {
	t.Helper()
	waitFor(t, waitTimeout, "the source to connect", func() bool { return r.Confirmed() > 0 })
}

// stop cancels Run and waits until it returns; it fails t when Run
// returned anything but context.Canceled.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(waitTimeout):
			r.err = errors.New("Run did not return")
		}
	})
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", r.err)
	}
}

// waitApplied waits until src confirmed the server's current WAL position.
func (e *pgEnv) waitApplied(src *running) {
	e.t.Helper()
	lsn := e.walLSN()
	start := time.Now()
	waitFor(e.t, waitTimeout, "Confirmed() >= "+lsn.String(), func() bool { return src.Confirmed() >= lsn })
	e.t.Logf("confirmed %v, %v after the writes", lsn, time.Since(start).Round(time.Millisecond))
}

// usersRules map users to namespace user by id, with a tag of the company,
// and to namespace user_by_email by email.
var usersRules = []cdc.Rule{
	{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}, Tags: []string{"company:{company_id}"}},
	{Table: "public.users", Namespace: "user_by_email", Keys: []string{"{email}"}},
}

const usersTable = `CREATE TABLE users (id bigint PRIMARY KEY, email text, company_id int);
ALTER TABLE users REPLICA IDENTITY FULL;`

// Test 1: every kind of change reaches the engine as the event it is: the
// exact keys and tags evicted, in order; integers beyond 2^53 exact; NULLs
// absent.
func TestSource_Decoding(t *testing.T) {
	t.Parallel()
	pg := newPG(t, usersTable)
	ev, dead := cdctest.NewRecorder(), &deadLetters{}
	opts := pg.options(newEngine(t, ev, dead, usersRules...))
	opts.MaxBatch = 1 // an Apply per change: the calls do not depend on timing
	src, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, src)
	r.waitConnected(t)
	start := time.Now()
	for _, sql := range []string{
		"INSERT INTO users VALUES (1, 'ada@example.com', 10)",
		"UPDATE users SET email = 'ada@new.example' WHERE id = 1",
		"INSERT INTO users VALUES (9007199254740993, NULL, 11)",
		"UPDATE users SET company_id = 12 WHERE id = 9007199254740993",
		"DELETE FROM users WHERE id = 1",
		"TRUNCATE users",
	} {
		pg.exec(sql)
	}
	pg.waitApplied(r)
	want := []string{
		// INSERT
		"user: delete 1", "user: tags company:10", "user_by_email: delete ada@example.com",
		// UPDATE of the email: the old and the new one
		"user: delete 1", "user: tags company:10", "user_by_email: delete ada@example.com ada@new.example",
		// INSERT with a NULL email: user_by_email cannot map it (a dead letter)
		"user: delete 9007199254740993", "user: tags company:11",
		// UPDATE of the company: both tags
		"user: delete 9007199254740993", "user: tags company:11 company:12",
		// DELETE: the old row
		"user: delete 1", "user: tags company:10", "user_by_email: delete ada@new.example",
		// TRUNCATE: every namespace of the table
		"user: flush", "user_by_email: flush",
	}
	if got := ev.Calls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("evictions:\n got %q\nwant %q", got, want)
	}
	letters := dead.got()
	if len(letters) != 2 {
		t.Fatalf("%d dead letters, want 2 (the NULL email): %+v", len(letters), letters)
	}
	for i, op := range []cdc.Op{cdc.Create, cdc.Update} {
		d := letters[i]
		if !errors.Is(d.Err, cdc.ErrMissingColumn) || d.Event == nil {
			t.Fatalf("dead letter %d: %+v, want a missing column with its event", i, d)
		}
		e := d.Event
		if want := (cdc.Table{Database: "postgres", Schema: "public", Name: "users"}); e.Table != want || e.Op != op {
			t.Errorf("dead letter %d: table %+v op %v, want %+v %v", i, e.Table, e.Op, want, op)
		}
		if _, ok := e.After["email"]; ok || e.After["id"] != "9007199254740993" {
			t.Errorf("dead letter %d: after %v, want id 9007199254740993 and no email", i, e.After)
		}
		if pos, err := pglogrepl.ParseLSN(e.Position); err != nil || pos == 0 || e.Position != d.Position {
			t.Errorf("dead letter %d: position %q (%q): want an LSN", i, e.Position, d.Position)
		}
		if e.Commit.Before(start.Add(-time.Minute)) || e.Commit.After(time.Now().Add(time.Minute)) {
			t.Errorf("dead letter %d: commit time %v, want about now", i, e.Commit)
		}
	}
}

// itemsTable holds n rows; rule item maps them by id.
func itemsSetup(n int) string {
	return fmt.Sprintf(`CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
INSERT INTO items (id) SELECT generate_series(1, %d);`, n)
}

var itemsRule = cdc.Rule{Table: "public.items", Namespace: "item", Keys: []string{"{id}"}}

// updateItems updates ids from..to (one autocommit UPDATE each) from
// writers connections, and counts the updates done in *done.
func updateItems(dsn string, from, to, writers int, done *atomic.Int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = conn.Close(context.Background()) }()
			for id := from + w; id <= to; id += writers {
				if _, err := conn.Exec(ctx, "UPDATE items SET v = v + 1 WHERE id = $1", id); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// missing returns the ids in from..to that were not evicted.
func missing(ev *cdctest.Recorder, from, to int) []int {
	var ids []int
	for id := from; id <= to; id++ {
		if ev.Count("item/"+strconv.Itoa(id)) == 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

// total returns the evictions of ids from..to.
func total(ev *cdctest.Recorder, from, to int) int {
	n := 0
	for id := from; id <= to; id++ {
		n += ev.Count("item/" + strconv.Itoa(id))
	}
	return n
}

// Test 2: at least once. Every committed update is evicted, and the
// source confirms the server's WAL position once it has applied it; a
// source stopped mid-stream loses nothing: the next one on the slot (which
// waits while the first holds it) gets what the first did not confirm.
func TestSource_AtLeastOnce(t *testing.T) {
	t.Parallel()
	const n, rows = 2000, 50000
	pg := newPG(t, itemsSetup(rows))
	ev := cdctest.NewRecorder()
	engine := newEngine(t, ev, nil, itemsRule)
	src1, err := New(pg.options(engine))
	if err != nil {
		t.Fatal(err)
	}
	r1 := run(t, src1)
	r1.waitConnected(t)

	var done atomic.Int64
	start := time.Now()
	if err := updateItems(pg.srv.DSN("postgres"), 1, n, 4, &done); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d updates in %v", n, time.Since(start).Round(time.Millisecond))
	pg.waitApplied(r1)
	if ids := missing(ev, 1, n); len(ids) > 0 {
		t.Fatalf("%d updated ids not evicted: %v", len(ids), ids[:min(len(ids), 10)])
	}
	t.Logf("one source: %d evictions of %d updates", total(ev, 1, n), n)

	// A second pass: writers update one id after the other (each once)
	// until told to stop; a second source starts on the slot while the
	// first streams (the server refuses it: 55006, and it retries); the
	// first is stopped while the writes go on, and the second takes over.
	ev.Reset()
	log2 := &logs{}
	opts2 := pg.options(engine)
	opts2.Logger = log2.logger()
	src2, err := New(opts2)
	if err != nil {
		t.Fatal(err)
	}
	var next, writes atomic.Int64
	next.Store(n)
	stopWrites := make(chan struct{})
	result := make(chan error, 1)
	go func() { result <- updateUntil(pg.srv.DSN("postgres"), rows, 4, &next, &writes, stopWrites) }()
	atLeast := func(k int64) {
		t.Helper()
		target := writes.Load() + k
		waitFor(t, waitTimeout, fmt.Sprintf("%d more updates", k), func() bool { return writes.Load() >= target })
	}
	atLeast(500)
	r2 := run(t, src2)
	waitFor(t, waitTimeout, "the second source to be refused the slot (55006)", func() bool { return log2.count("55006") > 0 })
	atLeast(200)
	r1.stop(t)
	stoppedAt := writes.Load()
	atLeast(500)
	close(stopWrites)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	pg.waitApplied(r2)
	last := int(next.Load()) // ids n+1..last were updated, once each
	if ids := missing(ev, n+1, last); len(ids) > 0 {
		t.Fatalf("%d updated ids not evicted across both sources: %v", len(ids), ids[:min(len(ids), 10)])
	}
	t.Logf("two sources, the first stopped after %d of %d updates: %d evictions, %d redelivered; the second was refused the slot %d times",
		stoppedAt, last-n, total(ev, n+1, last), total(ev, n+1, last)-(last-n), log2.count("55006"))
}

// updateUntil updates ids next+1, next+2... (one autocommit UPDATE each)
// from writers connections until stop is closed, counting the updates in
// *writes. It leaves in *next the last id updated: every id up to it was
// updated once.
func updateUntil(dsn string, rows, writers int, next, writes *atomic.Int64, stop <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	ids := make(chan int)
	for range writers {
		wg.Go(func() {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = conn.Close(context.Background()) }()
			for id := range ids {
				if _, err := conn.Exec(ctx, "UPDATE items SET v = v + 1 WHERE id = $1", id); err != nil {
					errs <- err
					return
				}
				writes.Add(1)
			}
		})
	}
	first := int(next.Load()) + 1
	id := first
feed:
	for ; id <= rows; id++ {
		select {
		case ids <- id:
		case <-stop:
			break feed
		case err := <-errs:
			errs <- err
			break feed
		}
	}
	close(ids)
	wg.Wait()
	next.Store(int64(id - 1))
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if id > rows {
		return fmt.Errorf("ran out of rows (%d) before being told to stop", rows)
	}
	return nil
}

// Test 3: the server crashes (SIGKILL) mid-stream and restarts: the source
// reconnects, and no committed change is missed.
func TestSource_ServerRestart(t *testing.T) {
	t.Parallel()
	const n = 600
	pg := newPG(t, itemsSetup(n))
	ev := cdctest.NewRecorder()
	lg := &logs{}
	opts := pg.options(newEngine(t, ev, nil, itemsRule))
	opts.Logger = lg.logger()
	src, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, src)
	r.waitConnected(t)

	// One writer, which reconnects after the crash and retries each update
	// until it succeeds: every id is committed once at least.
	var last, done atomic.Int64
	writes := make(chan error, 1)
	go func() { writes <- updateThroughCrashes(pg.srv.DSN("postgres"), n, &last, &done, nil) }()
	waitFor(t, waitTimeout, "200 updates", func() bool { return done.Load() >= 200 })
	if err := pg.srv.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := done.Load()
	if err := pg.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	pg.conn = pg.connect() // the first one died with the server
	pg.waitApplied(r)
	if ids := missing(ev, 1, n); len(ids) > 0 {
		t.Fatalf("%d updated ids not evicted: %v", len(ids), ids[:min(len(ids), 10)])
	}
	if lg.count("reconnecting") == 0 {
		t.Error("the source did not log a reconnection")
	}
	t.Logf("killed after %d of %d updates: %d evictions (%d redelivered), %d reconnection attempts",
		killedAt, n, total(ev, 1, n), total(ev, 1, n)-n, lg.count("reconnecting"))
}

// Test 4: writes to a table outside the publication send no change, only
// keepalives; the source acknowledges them, so the slot's confirmed
// position follows the WAL and the server does not keep it.
func TestSource_IdleKeepalive(t *testing.T) {
	t.Parallel()
	pg := newPG(t, usersTable+"CREATE TABLE audit (id serial PRIMARY KEY, note text);")
	ev := cdctest.NewRecorder()
	src, err := New(pg.options(newEngine(t, ev, nil, usersRules...)))
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, src)
	r.waitConnected(t)
	before := pg.slotLSN()
	for i := range 50 {
		pg.exec("INSERT INTO audit (note) VALUES ($1)", strconv.Itoa(i))
	}
	lsn := pg.walLSN()
	start := time.Now()
	waitFor(t, waitTimeout, "the slot's confirmed_flush_lsn to reach "+lsn.String(), func() bool { return pg.slotLSN() >= lsn })
	t.Logf("slot confirmed %v -> %v in %v; Confirmed() %v", before, pg.slotLSN(), time.Since(start).Round(time.Millisecond), r.Confirmed())
	if got := ev.Calls(); len(got) > 0 {
		t.Errorf("evictions %q, want none", got)
	}
}

// Test 5: an engine that fails: nothing is confirmed until the batch is
// applied, and nothing is lost, whether the same source retries it or a
// new one gets it again.
func TestSource_EngineFailure(t *testing.T) {
	t.Parallel()
	pg := newPG(t, itemsSetup(20))
	ev := cdctest.NewRecorder()
	engine := newEngine(t, ev, nil, itemsRule)

	// The same source retries until the engine applies the batch.
	src, err := New(pg.options(engine))
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, src)
	r.waitConnected(t)
	pg.waitApplied(r)
	const k = 3
	var atFailure []pglogrepl.LSN
	failCalls(ev, k, func() { atFailure = append(atFailure, src.Confirmed()) }) // called by Run's goroutine
	before := src.Confirmed()
	pg.exec("UPDATE items SET v = v + 1 WHERE id IN (1, 2, 3)")
	after := pg.walLSN()
	pg.waitApplied(r)
	if ev.Failed() != k {
		t.Errorf("%d failed calls, want %d", ev.Failed(), k)
	}
	for i, c := range atFailure {
		if c >= after {
			t.Errorf("failure %d: confirmed %v, at or past the update's WAL %v", i+1, c, after)
		}
	}
	if got := ev.Calls(); fmt.Sprint(got) != "[item: delete 1 2 3]" {
		t.Errorf("evictions %q, want [item: delete 1 2 3]", got)
	}
	t.Logf("confirmed %v before the update, %v while failing, %v after", before, atFailure, src.Confirmed())
	r.stop(t)

	// A source whose engine keeps failing is stopped: the server sends the
	// change again to the next source, which applies it.
	ev.Reset()
	failCalls(ev, 1<<30, nil)
	src, err = New(pg.options(engine))
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, src)
	r.waitConnected(t)
	pg.exec("UPDATE items SET v = v + 1 WHERE id IN (10, 11)")
	after = pg.walLSN()
	waitFor(t, waitTimeout, "two failed calls", func() bool { return ev.Failed() >= 2 })
	r.stop(t)
	if c, slot := src.Confirmed(), pg.slotLSN(); c >= after || slot >= after {
		t.Errorf("a source that never applied the update confirmed %v (slot %v), at or past its WAL %v", c, slot, after)
	}
	ev.FailWith(nil)
	src, err = New(pg.options(engine))
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, src)
	pg.waitApplied(r)
	if got := ev.Calls(); fmt.Sprint(got) != "[item: delete 10 11]" {
		t.Errorf("evictions after the restart %q, want [item: delete 10 11]", got)
	}
}

// A missing slot or publication that the source may not create stops Run
// at once, with an error saying which.
func TestSource_MissingSlotOrPublication(t *testing.T) {
	t.Parallel()
	pg := newPG(t, usersTable)
	engine := newEngine(t, cdctest.NewRecorder(), nil, usersRules...)
	for _, tc := range []struct {
		name       string
		createPub  bool
		createSlot bool
		want       error
	}{
		{"no publication", false, true, ErrNoPublication},
		{"no slot", true, false, ErrNoSlot},
	} {
		opts := pg.options(engine)
		opts.CreatePublication, opts.CreateSlot = tc.createPub, tc.createSlot
		src, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		err = src.Run(ctx)
		cancel()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Run = %v, want %v", tc.name, err, tc.want)
		}
	}
}
