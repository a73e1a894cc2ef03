package kafkasource_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
	"github.com/tiercache/tiercache/invalidate/cdc/kafkasource"
	"github.com/tiercache/tiercache/tiered/stats"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	engine := usersEngine(t, cdctest.NewRecorder(), nil, nil)
	valid := func() kafkasource.Options {
		return kafkasource.Options{Brokers: []string{"127.0.0.1:9092"}, Group: "g", Topics: []string{usersTopic}, Engine: engine}
	}
	for _, tc := range []struct {
		name   string
		change func(*kafkasource.Options)
		msg    string // "" for valid
	}{
		{"valid", func(*kafkasource.Options) {}, ""},
		{"regex", func(o *kafkasource.Options) { o.Topics, o.TopicRegex = nil, `^dbserver1\.public\.` }, ""},
		{"no engine", func(o *kafkasource.Options) { o.Engine = nil }, "no Engine"},
		{"no brokers", func(o *kafkasource.Options) { o.Brokers = nil }, "no Brokers"},
		{"no group", func(o *kafkasource.Options) { o.Group = "" }, "no Group"},
		{"no topics", func(o *kafkasource.Options) { o.Topics = nil }, "no Topics nor TopicRegex"},
		{"both", func(o *kafkasource.Options) { o.TopicRegex = "x" }, "both Topics and TopicRegex"},
		{"empty topic", func(o *kafkasource.Options) { o.Topics = []string{""} }, "empty topic"},
		{"bad regex", func(o *kafkasource.Options) { o.Topics, o.TopicRegex = nil, "(" }, "TopicRegex"},
		{"negative batch", func(o *kafkasource.Options) { o.MaxBatch = -1 }, "MaxBatch"},
		{"negative backoff", func(o *kafkasource.Options) { o.RetryBackoff = -1 }, "RetryBackoff"},
		{"bad client option", func(o *kafkasource.Options) {
			o.ClientOptions = []kgo.Opt{kgo.SessionTimeout(-time.Second)}
		}, "ClientOptions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := valid()
			tc.change(&opts)
			s, err := kafkasource.New(&opts)
			switch {
			case tc.msg == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.msg == "":
				if s == nil {
					t.Fatal("New returned nil")
				}
			case err == nil || !strings.HasPrefix(err.Error(), "kafkasource: ") || !strings.Contains(err.Error(), tc.msg):
				t.Fatalf("New: %v, want an error about %q", err, tc.msg)
			}
		})
	}
	if _, err := kafkasource.New(nil); err == nil {
		t.Fatal("New(nil): no error")
	}
}

// Debezium records of four tables, malformed ones among them, become
// exactly the evictions their rules give; malformed records are
// dead-lettered and counted, and do not stop the stream; every offset is
// committed once everything was applied.
func TestSourceAppliesDebezium(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, usersTopic, ordersTopic, sessionsTopic, auditTopic)
	prod := newProducer(t, c)
	const big = "9007199254740993" // 2^53+1: not a float64
	users, orders, sessions := func(p int32, key, value string) *kgo.Record { return record(usersTopic, p, key, value) },
		func(key, value string) *kgo.Record { return record(ordersTopic, 0, key, value) },
		func(key, value string) *kgo.Record { return record(sessionsTopic, 1, key, value) }
	produce(t, prod,
		// users, partition 0
		users(0, idKey("1"), dbz("users", "c", "null", `{"id":1,"company_id":10}`)),
		users(0, idKey("1"), dbz("users", "u", `{"id":1,"company_id":10}`, `{"id":1,"company_id":11}`)),
		users(0, idKey("1"), "not json"), // users/0@2
		users(0, idKey("2"), dbz("users", "d", `{"id":2,"company_id":10}`, "null")),
		users(0, idKey("2"), ""), // the delete's tombstone
		users(0, idKey(big), dbz("users", "c", "null", `{"id":`+big+`,"company_id":12}`)),
		users(0, "", `{"op":"m","source":`+dbzSource("users")+`,"message":{"prefix":"x","content":"eA=="}}`),
		// users, partition 1
		users(1, idKey("3"), strings.Replace(dbz("users", "c", "null", "{}"), `"op":"c"`, `"op":"x"`, 1)), // users/1@0
		users(1, idKey("3"), `{"schema":{"type":"struct"},"payload":`+dbz("users", "c", "null", `{"id":3,"company_id":10}`)+`}`),
		users(1, idKey("4"), `{"before":null,"after":{"id":4},"op":"c"}`),           // users/1@2: no source
		users(1, idKey("4"), dbz("users", "u", "null", `{"id":4,"company_id":13}`)), // replica identity default
		users(1, `{"id":5}`, dbz("users", "d", "null", "null")),                     // users/1@4: before from the key, no company_id
		// orders
		orders(idKey("7"), dbz("orders", "c", "null", `{"id":7,"user_id":1}`)),
		orders(idKey("8"), dbz("orders", "d", `{"id":8,"user_id":3}`, "null")),
		orders(idKey("8"), ""),
		orders(idKey("9"), dbz("orders", "c", "null", `{"user_id":5}`)), // orders/0@3: no id, its tag still maps
		// sessions: a create, then a truncate (no key)
		sessions(`{"id":"abc"}`, dbz("sessions", "c", "null", `{"id":"abc"}`)),
		sessions("", dbz("sessions", "t", "null", "null")),
		// a table no rule maps
		record(auditTopic, 0, idKey("1"), dbz("audit", "c", "null", `{"id":1}`)),
	)

	user, order, session := cdctest.NewRecorder(), cdctest.NewRecorder(), cdctest.NewRecorder()
	var dead deadLetters
	var st stats.Counter
	engine, err := cdc.New(&cdc.Options{
		Rules: []cdc.Rule{
			{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}, Tags: []string{"company:{company_id}"}},
			{Table: "public.orders", Namespace: "order", Keys: []string{"{id}"}, Tags: []string{"user:{user_id}"}},
			{Table: "public.sessions", Namespace: "session", Keys: []string{"{id}"}},
		},
		Targets:     map[string]cdc.Target{"user": user, "order": order, "session": session},
		DeadLetters: dead.add,
		Stats:       &st,
	})
	if err != nil {
		t.Fatal(err)
	}
	const group = "cache"
	topics := []string{usersTopic, ordersTopic, sessionsTopic, auditTopic}
	src := newSource(t, c, kafkasource.Options{Group: group, TopicRegex: `^dbserver1\.public\.`, Engine: engine, MaxBatch: 3})
	run := start(t, src)
	waitFor(t, 15*time.Second, "every offset committed", func() bool { return commitLag(c, group, topics...) == "" })
	run.stop(t)

	if got, want := user.Keys(), []string{"1", "2", "3", "4", "5", big}; !slices.Equal(got, want) {
		t.Errorf("user keys %v, want %v", got, want)
	}
	if got, want := user.Tags(), []string{"company:10", "company:11", "company:12", "company:13"}; !slices.Equal(got, want) {
		t.Errorf("user tags %v, want %v", got, want)
	}
	if got, want := order.Keys(), []string{"7", "8"}; !slices.Equal(got, want) {
		t.Errorf("order keys %v, want %v", got, want)
	}
	if got, want := order.Tags(), []string{"user:1", "user:3", "user:5"}; !slices.Equal(got, want) {
		t.Errorf("order tags %v, want %v", got, want)
	}
	// The truncate flushes the namespace; the create before it was
	// evicted by key unless it came in the truncate's batch.
	if session.Flushes() != 1 || len(session.Keys()) > 1 {
		t.Errorf("sessions: %d flushes, keys %v; want 1 flush", session.Flushes(), session.Keys())
	}

	var positions []string
	for _, d := range dead.list() {
		positions = append(positions, d.Position)
		if d.Event == nil && !errors.Is(d.Err, cdc.ErrMalformed) {
			t.Errorf("dead letter at %s: %v, want ErrMalformed", d.Position, d.Err)
		}
		if d.Event == nil && len(d.Raw) == 0 {
			t.Errorf("dead letter at %s has no Raw", d.Position)
		}
		if d.Event != nil && d.Event.Position != d.Position {
			t.Errorf("dead letter at %s: event at %s", d.Position, d.Event.Position)
		}
	}
	slices.Sort(positions)
	// Three records that do not decode, and two changes that map in part
	// (their keys evicted, a column of a template missing).
	if want := []string{ordersTopic + "/0@3", usersTopic + "/0@2", usersTopic + "/1@0", usersTopic + "/1@2", usersTopic + "/1@4"}; !slices.Equal(positions, want) {
		t.Errorf("dead letters at %v, want %v", positions, want)
	}
	snap := st.Snapshot()
	// 7 user changes, 3 order changes, 2 session changes, of which the 2
	// that map in part count as dead letters only; the audit change is
	// skipped.
	if got := [3]int64{snap.Get(stats.CDCApplied), snap.Get(stats.CDCSkipped), snap.Get(stats.CDCDeadLetter)}; got != [3]int64{10, 1, 5} {
		t.Errorf("applied, skipped, dead-lettered: %v, want [10 1 5]", got)
	}
}

// While Apply fails, nothing is committed, and the batch is applied again
// until it succeeds; its malformed record is dead-lettered once.
func TestSourceRetriesFailedApply(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, usersTopic)
	const group, n, failures = "cache", 40, 3
	var records []*kgo.Record
	for id := range n {
		records = append(records, userCreate(id, int32(id%2)))
	}
	records = append(records, record(usersTopic, 1, idKey("1"), "{"))
	produce(t, newProducer(t, c), records...)

	target := cdctest.NewRecorder()
	var committedWhileFailing atomic.Int32
	failDeletes(target, func(call int) error {
		if call > failures {
			return nil
		}
		if !committedNothing(c, group) {
			committedWhileFailing.Add(1)
		}
		return fmt.Errorf("L2 down (call %d)", call)
	})
	var dead deadLetters
	src := newSource(t, c, kafkasource.Options{Group: group, Topics: []string{usersTopic},
		Engine: usersEngine(t, target, &dead, nil), RetryBackoff: 10 * time.Millisecond})
	run := start(t, src)
	waitFor(t, 15*time.Second, "every offset committed", func() bool { return commitLag(c, group, usersTopic) == "" })
	run.stop(t)

	if calls := target.Failed() + len(target.Calls()); calls <= failures {
		t.Fatalf("%d Deletes, want more than %d", calls, failures)
	}
	if k := committedWhileFailing.Load(); k > 0 {
		t.Errorf("%d of the failed Applies saw committed offsets", k)
	}
	if _, distinct := target.Deletes(); distinct != n {
		t.Errorf("%d keys evicted, want %d", distinct, n)
	}
	if d := dead.list(); len(d) != 1 || d[0].Position != usersTopic+"/1@"+strconv.Itoa(n/2) {
		t.Errorf("dead letters %v, want one at %s/1@%d", d, usersTopic, n/2)
	}
}

// Run ends when its context ends, and a second Run at the same time is
// refused.
func TestSourceRunOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, usersTopic)
	src := newSource(t, c, kafkasource.Options{Group: "g", Topics: []string{usersTopic}, Engine: usersEngine(t, cdctest.NewRecorder(), nil, nil)})
	run := start(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.WaitGroupStable(ctx, "g", 1); err != nil {
		t.Fatalf("the group: %v", err)
	}
	if err := src.Run(ctx); err == nil || !strings.Contains(err.Error(), "running") {
		t.Errorf("second Run: %v, want an error", err)
	}
	run.stop(t)
	if info := c.GroupInfo("g"); info != nil && len(info.Members) != 0 {
		t.Errorf("after Run: %d members, want the group left", len(info.Members))
	}
}
