package kafkasource_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
	"github.com/tiercache/tiercache/invalidate/cdc/kafkasource"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The topics of the tests: Debezium's prefix.schema.table.
const (
	usersTopic    = "dbserver1.public.users"
	ordersTopic   = "dbserver1.public.orders"
	sessionsTopic = "dbserver1.public.sessions"
	auditTopic    = "dbserver1.public.audit" // no rule maps it
)

// newCluster starts an in-process Kafka cluster with topics of the given
// partitions, and a session timeout as low as 500 ms.
func newCluster(t testing.TB, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// fastGroup are client options that make rebalances quick in tests.
func fastGroup() []kgo.Opt {
	return []kgo.Opt{
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	}
}

// newProducer returns a client that writes each record to the partition
// the record names.
func newProducer(t testing.TB, c *kfake.Cluster) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes records and fails the test unless all were written.
func produce(t testing.TB, cl *kgo.Client, records ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// record is a record of topic's partition.
func record(topic string, partition int32, key, value string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Partition: partition}
	if key != "" {
		r.Key = []byte(key)
	}
	if value != "" {
		r.Value = []byte(value)
	}
	return r
}

// dbzSource is the source block of a Debezium 3 PostgreSQL connector's
// event for public.<table>.
func dbzSource(table string) string {
	return `{"version":"3.0.5.Final","connector":"postgresql","name":"dbserver1","ts_ms":1559033904863,` +
		`"snapshot":"false","db":"postgres","sequence":"[\"24023119\",\"24023128\"]","schema":"public",` +
		`"table":"` + table + `","txId":556,"lsn":24023128,"xmin":null}`
}

// dbz is the value of a Debezium change of public.<table>; before and
// after are JSON texts ("null" for none).
func dbz(table, op, before, after string) string {
	return `{"before":` + before + `,"after":` + after + `,"source":` + dbzSource(table) +
		`,"op":"` + op + `","ts_ms":1559033905000,"transaction":null}`
}

// idKey is the record key of row id.
func idKey(id string) string { return `{"id":` + id + `}` }

// userCreate is a create of user id in company 1, as a record of the
// users topic's partition.
func userCreate(id int, partition int32) *kgo.Record {
	s := strconv.Itoa(id)
	return record(usersTopic, partition, idKey(s), dbz("users", "c", "null", `{"id":`+s+`,"company_id":1}`))
}

// failDeletes makes r ask f, with the number of each Delete call (1, 2,
// ...), whether that call fails.
func failDeletes(r *cdctest.Recorder, f func(call int) error) {
	var n atomic.Int64
	r.FailWith(func(call string) error {
		if !strings.HasPrefix(call, "delete") {
			return nil
		}
		return f(int(n.Add(1)))
	})
}

// deadLetters collects an engine's dead letters.
type deadLetters struct {
	mu  sync.Mutex
	all []cdc.DeadLetter
}

func (d *deadLetters) add(l cdc.DeadLetter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.all = append(d.all, l)
}

func (d *deadLetters) list() []cdc.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.all)
}

// usersEngine returns an engine whose only rule maps public.users' ids
// to the keys of namespace "user" of target.
func usersEngine(t testing.TB, target cdc.Target, dead *deadLetters, st stats.Recorder) *cdc.Engine {
	t.Helper()
	opts := &cdc.Options{
		Rules:   []cdc.Rule{{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}}},
		Targets: map[string]cdc.Target{"user": target},
		Stats:   st,
	}
	if dead != nil {
		opts.DeadLetters = dead.add
	}
	e, err := cdc.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// newSource returns a Source of opts on c, with quick rebalances.
func newSource(t testing.TB, c *kfake.Cluster, opts kafkasource.Options) *kafkasource.Source {
	t.Helper()
	opts.Brokers = c.ListenAddrs()
	opts.ClientOptions = append(fastGroup(), opts.ClientOptions...)
	s, err := kafkasource.New(&opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// running is a Source's Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs s until stop or the end of the test.
func start(t testing.TB, s *kafkasource.Source) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends Run and waits for it; it is idempotent.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// commitLag returns, for group on c, what is produced and not committed
// in the topics' partitions: "" once every partition's committed offset is
// its end.
func commitLag(c *kfake.Cluster, group string, topics ...string) string {
	var lag []string
	info := c.GroupInfo(group)
	for _, topic := range topics {
		for _, p := range c.PartitionInfos(topic) {
			var committed int64
			if info != nil {
				committed = info.Commits[topic][p.Partition].Offset
			}
			if committed != p.HighWatermark {
				lag = append(lag, fmt.Sprintf("%s/%d: committed %d of %d", topic, p.Partition, committed, p.HighWatermark))
			}
		}
	}
	return strings.Join(lag, ", ")
}

// committedNothing reports whether group committed no offset on c.
func committedNothing(c *kfake.Cluster, group string) bool {
	info := c.GroupInfo(group)
	if info == nil {
		return true
	}
	for _, parts := range info.Commits {
		if len(parts) > 0 {
			return false
		}
	}
	return true
}
