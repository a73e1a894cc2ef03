package kafkasource_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/kafkasource"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The stale test: the Kafka path of the CDC acceptance run.
const (
	staleRows       = 1000   // ids 1..staleRows exist at the start
	staleMaxID      = 1200   // inserts take deleted ids and ids up to staleMaxID
	staleStatements = 10_000 // INSERT, UPDATE and DELETE statements in all
	staleWriters    = 8      // id mod staleWriters is an id's writer
	stalePartitions = 4      // id mod stalePartitions is an id's partition
	staleInstances  = 4      // caches
	staleReaders    = 2      // per instance
	staleMaxReads   = 20_000 // per reader, a bound in case the writers hang
	staleMaxBatch   = 500    // records per Apply, in both consumers
	// staleChildShare is how many changes the child applies before it is
	// killed.
	staleChildShare = 1000

	staleTopicPrefix = "pg1"
	staleTopic       = staleTopicPrefix + ".public.rows"
	staleGroup       = "rows-cache"
	staleNamespace   = "row"
)

// staleBusKeys authenticate the messages of every bus of the test.
var staleBusKeys = [][]byte{[]byte("kafkasource stale test bus key!!")} // 32 bytes

// The environment of TestHelperStaleConsumer, the child of
// TestStale_Debezium.
const (
	staleEnvBrokers = "KAFKASOURCE_STALE_CHILD_BROKERS"
	staleEnvRedis   = "KAFKASOURCE_STALE_CHILD_REDIS"
	staleEnvOut     = "KAFKASOURCE_STALE_CHILD_OUT"
)

// TestStale_Debezium is the Kafka path of the CDC acceptance run, on real
// PostgreSQL and real Redis (one node, and the 3+3 Cluster): 4 cache
// instances read 1,200 ids while 10,000 INSERT, UPDATE and DELETE
// statements run through plain SQL, some of them racing loads of the same
// row (a load that read the row before the commit and finishes after the
// eviction). The test emulates Debezium: each committed change becomes its
// Debezium event in a 4-partition topic (see staleFeed). Two Sources of one
// group apply them: one in this process, one in a child process, killed
// with SIGKILL mid-stream; this one takes its partitions over. Once the
// writers stopped and the group committed every record, every instance's
// Get of every id returns the database's row, or ErrNotFound for a row that
// does not exist: 0 stale.
func TestStale_Debezium(t *testing.T) {
	pgtest.Require(t)
	redistest.Require(t)
	t.Run("node", func(t *testing.T) {
		srv := redistest.NewServer(t)
		staleRun(t, staleRedis{addrs: []string{srv.Addr()}})
	})
	t.Run("cluster", func(t *testing.T) {
		cl := redistest.NewCluster(t)
		staleRun(t, staleRedis{cluster: true, addrs: cl.Addrs()})
	})
}

func staleRun(t *testing.T, rd staleRedis) {
	began := time.Now()
	ctx := t.Context()
	pg := pgtest.NewServer(t)
	if _, err := pg.SQL(ctx, "postgres", fmt.Sprintf(
		`CREATE TABLE public.rows (id bigint PRIMARY KEY, v bigint NOT NULL, note text);
INSERT INTO public.rows SELECT i, 0, 'row ' || i FROM generate_series(1, %d) i`, staleRows)); err != nil {
		t.Fatal(err)
	}
	kc := newCluster(t, stalePartitions, staleTopic)
	feed := &staleFeed{db: stalePool(t, pg.DSN("postgres"), staleWriters), prod: newStaleProducer(t, kc)}

	// The consumers: the child first (it takes longer to start), then
	// this process's.
	child := startStaleChild(t, kc, rd)
	parent := newStaleConsumer(t, rd, kc.ListenAddrs())
	parent.dead = func(d cdc.DeadLetter) { t.Errorf("dead letter at %s: %v", d.Position, d.Err) }
	var parentRecords, parentChanges atomic.Int64
	kafkasource.SetAfterApply(parent.src, func(records []*kgo.Record) {
		parentRecords.Add(int64(len(records)))
		parentChanges.Add(int64(staleChanges(records)))
	})
	start(t, parent.src)

	// The caches: half of them have slow loaders, which widens the window
	// between a load's read and its store.
	loads := stalePool(t, pg.DSN("postgres"), 16)
	var racing atomic.Int64 // loads during which a commit of their row returned
	caches := make([]*tiered.Cache[int64, staleRow], staleInstances)
	buses := make([]*staleFenceBus, staleInstances)
	counters := make([]*stats.Counter, staleInstances)
	for i := range caches {
		counters[i] = &stats.Counter{}
		caches[i], buses[i] = newStaleInstance(t, rd, staleLoader(loads, feed, i%2 == 0, &racing), counters[i])
	}
	for i, c := range caches {
		waitFor(t, 30*time.Second, fmt.Sprintf("instance %d's subscription", i), func() bool { return c.Health().Subscribed })
	}
	waitAssigned(t, kc, staleGroup, 2, stalePartitions)

	// Readers and writers.
	stop := make(chan struct{})
	var reads staleReads
	var readers sync.WaitGroup
	for i, c := range caches {
		for r := range staleReaders {
			readers.Go(func() { staleRead(ctx, t, c, feed, rand.New(rand.NewPCG(uint64(i), uint64(r))), stop, &reads) })
		}
	}
	writing := time.Now()
	setup := writing.Sub(began)
	written := make(chan struct{})
	go func() {
		defer close(written)
		feed.run(ctx, t.Errorf)
	}()

	// The child is killed mid-stream, once it has applied some changes;
	// this process's Source takes its partitions over after the session
	// timeout.
	waitFor(t, 30*time.Second, "the child applying changes", func() bool {
		_, changes := readStaleApplied(t, child.out)
		return changes >= staleChildShare
	})
	child.kill(t)
	killedAt, statementsAtKill := time.Now(), feed.statements.Load()
	childRecords, childChanges := readStaleApplied(t, child.out)
	if statementsAtKill >= staleStatements {
		t.Errorf("the writers were done before the child was killed: not mid-stream")
	}
	waitAssigned(t, kc, staleGroup, 1, stalePartitions)
	takeover := time.Since(killedAt)
	statementsAtTakeover := feed.statements.Load()

	<-written
	writersDone := time.Now()
	close(stop)
	readers.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Nothing left to apply: every record committed, and every instance
	// heard every eviction published before (a fence published by this
	// process's consumer after the last commit: pub/sub keeps the order of
	// one channel, and the child's evictions of committed records were
	// published before their commit).
	waitFor(t, 30*time.Second, "every record committed", func() bool { return commitLag(kc, staleGroup, staleTopic) == "" })
	caughtUp := time.Since(writersDone)
	if err := parent.bus.Publish(ctx, &invalidate.Message{Namespace: staleNamespace, Keys: []string{"fence"}}); err != nil {
		t.Fatal(err)
	}
	for i, b := range buses {
		waitFor(t, 30*time.Second, fmt.Sprintf("instance %d hearing the fence", i), b.fenced)
	}

	// Every instance reads every id; so does a fresh instance, whose L1 is
	// empty: it reads what L2 holds.
	checking := time.Now()
	db := staleTable(ctx, t, loads)
	fresh := newStaleReader(t, rd, staleLoader(loads, feed, false, &racing))
	wrong := staleCheck(ctx, feed, append([]*tiered.Cache[int64, staleRow]{fresh}, caches...), db)
	stale, staleL2 := 0, len(wrong[0])
	for i, w := range wrong {
		what := "a fresh instance (L2)"
		if i > 0 {
			what = fmt.Sprintf("instance %d", i-1)
			stale += len(w)
		}
		for _, d := range w[:min(len(w), 10)] {
			t.Errorf("%s, %s", what, d)
		}
	}
	checked := time.Since(checking)

	produced := feed.changes.Load() + feed.tombstones.Load()
	t.Logf("%d statements (%d INSERT, %d UPDATE, %d DELETE); %d events produced (%d changes, %d tombstones)",
		feed.statements.Load(), feed.inserts.Load(), feed.updates.Load(), feed.deletes.Load(), produced,
		feed.changes.Load(), feed.tombstones.Load())
	t.Logf("%d reads during the run (%v each on average); %d loads raced a commit of their row",
		reads.n.Load(), reads.mean().Round(time.Microsecond), racing.Load())
	for i, c := range counters {
		s := c.Snapshot()
		t.Logf("instance %d: %d loads (%d not found), %d invalidations received (%d keys), L1 flushed for gaps %d, resubscriptions %d",
			i, s.Get(stats.LoadSuccess)+s.Get(stats.LoadNotFound), s.Get(stats.LoadNotFound), s.Get(stats.Received),
			s.Get(stats.ReceivedKeys), s.Get(stats.FlushGap), s.Get(stats.FlushResubscribed))
	}
	t.Logf("the child applied %d changes (%d records) before it was killed, at statement %d; "+
		"this process took its partitions over %v later (at statement %d) and applied %d changes (%d records); "+
		"%d records applied twice (at least); caught up %v after the writers stopped",
		childChanges, childRecords, statementsAtKill, takeover.Round(time.Millisecond), statementsAtTakeover,
		parentChanges.Load(), parentRecords.Load(), childRecords+parentRecords.Load()-produced, caughtUp.Round(time.Millisecond))
	t.Logf("%d stale reads of %d ids in %d instances, %d stale in L2; %v in all (setup %v, writers %v, check %v)",
		stale, staleMaxID, staleInstances, staleL2, time.Since(began).Round(time.Millisecond),
		setup.Round(time.Millisecond), writersDone.Sub(writing).Round(time.Millisecond), checked.Round(time.Millisecond))
	if stale > 0 || staleL2 > 0 {
		t.Errorf("%d stale reads, %d stale values in L2: want 0", stale, staleL2)
	}
	if racing.Load() == 0 {
		t.Error("no load raced a commit: the test tests nothing")
	}
	if n := childRecords + parentRecords.Load(); n < produced {
		t.Errorf("%d records applied of %d produced", n, produced)
	}
}

// staleCheck has each of caches Get every id and returns what each got
// wrong: a row other than the database's, or an error other than
// ErrNotFound for a row the database does not have. The ids are shared
// among a few goroutines; the caches Get an id one after the other, in
// order, so that the first one reads L2 as the run left it.
func staleCheck(ctx context.Context, feed *staleFeed, caches []*tiered.Cache[int64, staleRow], db map[int64]staleRow) [][]string {
	const workers = 4
	var mu sync.Mutex
	wrong := make([][]string, len(caches))
	var wg sync.WaitGroup
	for w := range int64(workers) {
		wg.Go(func() {
			for id := 1 + w; id <= staleMaxID; id += workers {
				want, exists := db[id]
				for i, c := range caches {
					got, err := c.Get(ctx, id)
					if exists && err == nil && got == want || !exists && errors.Is(err, tiered.ErrNotFound) {
						continue
					}
					mu.Lock()
					wrong[i] = append(wrong[i], fmt.Sprintf("id %d: Get = %+v, %v; the database has %+v (exists %v); its last changes: %s",
						id, got, err, want, exists, feed.staleHistory(id)))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return wrong
}

// staleReads counts the reads of the run and their time.
type staleReads struct{ n, ns atomic.Int64 }

func (r *staleReads) mean() time.Duration { return time.Duration(r.ns.Load() / max(1, r.n.Load())) }

// staleRead reads random ids through c until stop is closed (or
// staleMaxReads reads): half of them ids that a writer is about to write.
func staleRead(ctx context.Context, t *testing.T, c *tiered.Cache[int64, staleRow], feed *staleFeed, rnd *rand.Rand,
	stop <-chan struct{}, reads *staleReads) {
	for range staleMaxReads {
		select {
		case <-stop:
			return
		default:
		}
		id := 1 + rnd.Int64N(staleMaxID)
		if rnd.IntN(2) == 0 {
			if next := feed.next[rnd.IntN(staleWriters)].Load(); next != 0 {
				id = next
			}
		}
		began := time.Now()
		r, err := c.Get(ctx, id)
		if err != nil && !errors.Is(err, tiered.ErrNotFound) || err == nil && r.ID != id {
			t.Errorf("Get(%d) = %+v, %v", id, r, err)
			return
		}
		reads.ns.Add(int64(time.Since(began)))
		reads.n.Add(1)
	}
}

// staleLoader loads a row from public.rows, or tiered.ErrNotFound. A slow
// loader pauses 0-2 ms after its SELECT, as if the answer took that long
// to come back, so that a load that read the row before a commit often
// finishes after the commit's eviction. racing counts the loads during
// which a commit of their row returned.
func staleLoader(db *pgxpool.Pool, feed *staleFeed, slow bool, racing *atomic.Int64) loader.Func[int64, staleRow] {
	return func(ctx context.Context, id int64) (staleRow, error) {
		var commits *atomic.Int64
		if id >= 0 && id <= staleMaxID {
			commits = &feed.commits[id]
		}
		var before int64
		if commits != nil {
			before = commits.Load()
		}
		var r staleRow
		err := db.QueryRow(ctx, "SELECT id, v, note FROM public.rows WHERE id = $1", id).Scan(&r.ID, &r.V, &r.Note)
		if slow {
			time.Sleep(rand.N(2 * time.Millisecond)) // widens the race, waits for nothing
		}
		if commits != nil && commits.Load() != before {
			racing.Add(1)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return staleRow{}, tiered.ErrNotFound
		}
		return r, err
	}
}

// staleTable returns the rows of public.rows by id.
func staleTable(ctx context.Context, t *testing.T, db *pgxpool.Pool) map[int64]staleRow {
	t.Helper()
	rows, err := db.Query(ctx, "SELECT id, v, note FROM public.rows")
	if err != nil {
		t.Fatal(err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (staleRow, error) {
		var r staleRow
		err := row.Scan(&r.ID, &r.V, &r.Note)
		return r, err
	})
	if err != nil {
		t.Fatal(err)
	}
	byID := make(map[int64]staleRow, len(all))
	for _, r := range all {
		byID[r.ID] = r
	}
	return byID
}

// newStaleProducer returns a client that writes each record to the
// partition the record names, at once and uncompressed (compression costs
// milliseconds a batch under the race detector).
func newStaleProducer(t *testing.T, c *kfake.Cluster) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// stalePool returns a pool of at most size connections to dsn, closed at
// the test's end.
func stalePool(t *testing.T, dsn string, size int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = size
	db, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// newStaleInstance returns an instance of the namespace's cache with its
// own Redis client, L2 store and bus.
func newStaleInstance(t *testing.T, rd staleRedis, load loader.Func[int64, staleRow], st stats.Recorder) (*tiered.Cache[int64, staleRow], *staleFenceBus) {
	t.Helper()
	client := rd.client(t)
	rb, err := redisbus.New(client, &redisbus.Options{Keys: staleBusKeys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.Close() })
	bus := &staleFenceBus{Bus: rb}
	c, err := tiered.New(&tiered.Options[int64, staleRow]{Name: staleNamespace, L2: redisstore.New(client, nil), Bus: bus, Loader: load,
		Stats: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bus
}

// newStaleReader returns an instance of the namespace's cache without a
// bus, started after the run: its L1 is empty, so its first Get of a key
// reads what L2 holds.
func newStaleReader(t *testing.T, rd staleRedis, load loader.Func[int64, staleRow]) *tiered.Cache[int64, staleRow] {
	t.Helper()
	c, err := tiered.New(&tiered.Options[int64, staleRow]{Name: staleNamespace, L2: redisstore.New(rd.client(t), nil), Loader: load})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// staleFenceBus is an instance's bus that tells the test when its
// subscription heard the fence: then it has heard every message published
// on the channel before the fence.
type staleFenceBus struct {
	invalidate.Bus
	heard atomic.Bool
}

func (b *staleFenceBus) Subscribe(ns string, h invalidate.Handler) (func(), error) {
	return b.Bus.Subscribe(ns, staleFenceHandler{h, b})
}

func (b *staleFenceBus) fenced() bool { return b.heard.Load() }

type staleFenceHandler struct {
	invalidate.Handler
	b *staleFenceBus
}

func (h staleFenceHandler) Receive(m *invalidate.Message) {
	h.Handler.Receive(m)
	for _, k := range m.Keys {
		if k == "fence" {
			h.b.heard.Store(true)
		}
	}
}

// staleRedis says how to reach the test's Redis: one node or a Cluster.
type staleRedis struct {
	cluster bool
	addrs   []string
}

// String returns the form the child's environment carries:
// "node ADDR" or "cluster ADDR,ADDR,...".
func (r staleRedis) String() string {
	if r.cluster {
		return "cluster " + strings.Join(r.addrs, ",")
	}
	return "node " + r.addrs[0]
}

func parseStaleRedis(s string) (staleRedis, error) {
	mode, addrs, ok := strings.Cut(s, " ")
	if !ok || addrs == "" || mode != "node" && mode != "cluster" {
		return staleRedis{}, fmt.Errorf("bad %s %q", staleEnvRedis, s)
	}
	return staleRedis{cluster: mode == "cluster", addrs: strings.Split(addrs, ",")}, nil
}

// client returns a client of r as the default user, closed at the test's
// end.
func (r staleRedis) client(t testing.TB) redis.UniversalClient {
	var c redis.UniversalClient
	if r.cluster {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: r.addrs})
	} else {
		c = redis.NewClient(&redis.Options{Addr: r.addrs[0]})
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// staleConsumer is what a consumer process of the stale test runs: the
// namespace's Invalidator, on its own Redis client, store and bus, behind
// an engine that maps public.rows to the namespace's keys, and a Source
// of the group.
type staleConsumer struct {
	src  *kafkasource.Source
	bus  *redisbus.Bus
	dead func(cdc.DeadLetter) // set before Run: the engine's dead letters
}

func newStaleConsumer(t testing.TB, rd staleRedis, brokers []string) *staleConsumer {
	t.Helper()
	client := rd.client(t)
	bus, err := redisbus.New(client, &redisbus.Options{Keys: staleBusKeys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	iv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: staleNamespace, L2: redisstore.New(client, nil), Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iv.Close() })
	c := &staleConsumer{bus: bus}
	engine, err := cdc.New(&cdc.Options{
		Rules:   []cdc.Rule{{Table: "public.rows", Namespace: staleNamespace, Keys: []string{"{id}"}}},
		Targets: map[string]cdc.Target{staleNamespace: iv},
		DeadLetters: func(d cdc.DeadLetter) {
			if c.dead != nil {
				c.dead(d)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.src, err = kafkasource.New(&kafkasource.Options{Brokers: brokers, Group: staleGroup, Topics: []string{staleTopic},
		Engine: engine, MaxBatch: staleMaxBatch, ClientOptions: fastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// staleChanges returns how many of records are changes (not tombstones).
func staleChanges(records []*kgo.Record) int {
	n := 0
	for _, r := range records {
		if len(r.Value) > 0 {
			n++
		}
	}
	return n
}

// staleChild is the child process that runs TestHelperStaleConsumer.
type staleChild struct {
	cmd  *exec.Cmd
	out  string // where it writes what it applied
	reap sync.Once
}

// startStaleChild runs this test binary again as a consumer of the group,
// on kc and rd, until the test kills it (or ends).
func startStaleChild(t *testing.T, kc *kfake.Cluster, rd staleRedis) *staleChild {
	t.Helper()
	c := &staleChild{out: filepath.Join(t.TempDir(), "applied")}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperStaleConsumer$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), staleEnvBrokers+"="+strings.Join(kc.ListenAddrs(), ","),
		staleEnvRedis+"="+rd.String(), staleEnvOut+"="+c.out)
	var logs bytes.Buffer
	c.cmd.Stdout, c.cmd.Stderr = &logs, &logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		c.wait()
		if t.Failed() {
			t.Logf("the child's output:\n%s", logs.String())
		}
	})
	return c
}

// kill sends SIGKILL to the child and reaps it.
func (c *staleChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.wait()
}

func (c *staleChild) wait() { c.reap.Do(func() { _ = c.cmd.Wait() }) }

// readStaleApplied returns how many records, and changes among them, the
// child applied: the sums of the lines of its file, "records changes" per
// batch (a last line without its newline was cut by the kill, before its
// batch was committed).
func readStaleApplied(t *testing.T, path string) (records, changes int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		r, c, ok := strings.Cut(sc.Text(), " ")
		nr, err1 := strconv.ParseInt(r, 10, 64)
		nc, err2 := strconv.ParseInt(c, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("bad line %q in the child's file", sc.Text())
		}
		records += nr
		changes += nc
	}
	return records, changes
}

// TestHelperStaleConsumer is the consumer that TestStale_Debezium kills:
// a Source of the group, whose engine evicts through an Invalidator on the
// test's Redis, and which appends "records changes" to a file for each
// batch, once Apply returned nil for it and before it is committed. It
// runs only as that test's child.
func TestHelperStaleConsumer(t *testing.T) {
	brokers := os.Getenv(staleEnvBrokers)
	if brokers == "" {
		t.Skip("the child process of TestStale_Debezium")
	}
	rd, err := parseStaleRedis(os.Getenv(staleEnvRedis))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(os.Getenv(staleEnvOut), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = out.Close() }()
	c := newStaleConsumer(t, rd, strings.Split(brokers, ","))
	c.dead = func(d cdc.DeadLetter) { t.Errorf("dead letter at %s: %v", d.Position, d.Err) }
	kafkasource.SetAfterApply(c.src, func(records []*kgo.Record) {
		if _, err := fmt.Fprintf(out, "%d %d\n", len(records), staleChanges(records)); err != nil {
			t.Error(err)
		}
	})
	// A child whose parent died does not linger.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.src.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
