package kafkasource_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
	"github.com/tiercache/tiercache/invalidate/cdc/kafkasource"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The partitions of the topics of TestSource_MutatedMessages.
const (
	mutUsersPartitions = 4
	mutAuditPartitions = 2
)

// 1,000 Debezium records mutated from valid ones (bad JSON, wrong types,
// missing key columns, unknown tables, huge numbers, oversized values,
// null and empty values, bad wrappers), with valid changes between them,
// go through a Source. Each record has the outcome that DecodeDebezium's
// and Engine.Apply's docs give it: a record that does not decode is
// dead-lettered with its bytes; a change that maps only in part is
// dead-lettered with its event (what did map evicted), and counted as a
// dead letter only; a change of a table no rule maps is counted as skipped; a
// tombstone or a logical decoding message is neither; anything else
// (an id of any JSON type, a number of any size, kept digit for digit) is
// applied. The stream goes on: every valid change is evicted, those
// produced after the mutated ones too, and every offset is committed.
func TestSource_MutatedMessages(t *testing.T) {
	t.Parallel()
	const mutated = 1000
	c := newLargeCluster(t)
	prod := newLargeProducer(t, c)
	g := &mutGen{t: t, r: rand.New(rand.NewPCG(20260918, 1000)), nextMut: 3_000_000, nextValid: 1_000_000}

	var msgs []mutMsg
	for _, m := range g.mutants(mutated) {
		msgs = append(msgs, m)
		if g.r.IntN(2) == 0 {
			msgs = append(msgs, g.valid())
		}
	}
	records := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		records[i] = m.record(g.partition(m.topic))
	}
	produce(t, prod, records...)
	byPos := make(map[string]mutMsg, len(msgs)) // what each record must become
	for i, r := range records {
		byPos[mutPosition(r)] = msgs[i]
	}

	target := cdctest.NewRecorder()
	var dead deadLetters
	var st stats.Counter
	const group = "mutated"
	topics := []string{usersTopic, auditTopic}
	src := newSource(t, c, kafkasource.Options{Group: group, Topics: topics,
		Engine: usersEngine(t, target, &dead, &st), MaxBatch: 100})
	began := time.Now()
	run := start(t, src)
	waitFor(t, 15*time.Second, "the mutated records committed", func() bool { return commitLag(c, group, topics...) == "" })
	drained := time.Since(began)

	// The stream goes on: a valid change of each partition, produced once
	// the mutated records were all committed.
	var after []*kgo.Record
	for p := range int32(mutUsersPartitions) {
		m := g.valid()
		m.category = "(valid, after)"
		r := m.record(p)
		produce(t, prod, r)
		byPos[mutPosition(r)] = m
		after = append(after, r)
	}
	waitFor(t, 10*time.Second, "the changes produced after the mutated ones", func() bool {
		for _, r := range after {
			for _, k := range byPos[mutPosition(r)].keys {
				if !target.Has(k) {
					return false
				}
			}
		}
		return commitLag(c, group, topics...) == ""
	})
	run.stop(t)

	// (a) Dead letters: exactly one for each record whose outcome is one,
	// the undecodable ones with their bytes and ErrMalformed, the others
	// with their event and ErrMissingColumn.
	deadAt := make(map[string]int)
	for _, d := range dead.list() {
		deadAt[d.Position]++
		m, produced := byPos[d.Position]
		switch {
		case !produced:
			t.Errorf("dead letter at %s, which was not produced: %v", d.Position, d.Err)
		case m.want == wantDead:
			if d.Event != nil || !errors.Is(d.Err, cdc.ErrMalformed) || !bytes.Equal(d.Raw, m.value) {
				t.Errorf("%s (%s, %s): dead letter with event %v, raw of %d bytes (want %d), error %v; want no event, the raw record and ErrMalformed",
					d.Position, m.category, m.kind, d.Event, len(d.Raw), len(m.value), d.Err)
			}
		case m.want == wantDeadMapped:
			if d.Event == nil || d.Event.Position != d.Position || !errors.Is(d.Err, cdc.ErrMissingColumn) {
				t.Errorf("%s (%s, %s): dead letter with event %v, error %v; want the event and ErrMissingColumn",
					d.Position, m.category, m.kind, d.Event, d.Err)
			}
		default:
			t.Errorf("%s (%s, %s): dead-lettered (%v), want %s", d.Position, m.category, m.kind, d.Err, m.want)
		}
	}
	for pos, m := range byPos {
		if n := deadAt[pos]; (m.want == wantDead || m.want == wantDeadMapped) && n != 1 {
			t.Errorf("%s (%s, %s): %d dead letters, want 1", pos, m.category, m.kind, n)
		}
	}

	// (a), (b) The counters.
	var want [3]int64 // applied, skipped, dead-lettered
	type tally struct{ msgs, applied, deadMapped, dead, skipped, ignored, deadSeen int }
	perCategory := make(map[string]*tally)
	for pos, m := range byPos {
		n := perCategory[m.category]
		if n == nil {
			n = &tally{}
			perCategory[m.category] = n
		}
		n.msgs++
		n.deadSeen += deadAt[pos]
		switch m.want {
		case wantApplied:
			n.applied++
			want[0]++
		case wantDeadMapped:
			n.deadMapped++
			want[2]++
		case wantDead:
			n.dead++
			want[2]++
		case wantSkipped:
			n.skipped++
			want[1]++
		case wantIgnored:
			n.ignored++
		}
	}
	for cat, n := range perCategory {
		if n.deadSeen != n.dead+n.deadMapped {
			t.Errorf("%s: %d dead letters, want %d", cat, n.deadSeen, n.dead+n.deadMapped)
		}
	}
	snap := st.Snapshot()
	got := [3]int64{snap.Get(stats.CDCApplied), snap.Get(stats.CDCSkipped), snap.Get(stats.CDCDeadLetter)}
	if got != want {
		t.Errorf("counted applied, skipped, dead-lettered: %v, want %v", got, want)
	}
	if n := len(dead.list()); int64(n) != want[2] {
		t.Errorf("%d dead letters handed to the hook, want %d", n, want[2])
	}

	// (c) Exactly the keys of the changes that map were evicted: every
	// valid change's, an id of any type or size as its exact text.
	wantKeys := make(map[string]bool)
	for _, m := range byPos {
		for _, k := range m.keys {
			wantKeys[k] = true
		}
	}
	for k := range wantKeys {
		if !target.Has(k) {
			t.Errorf("key %q was not evicted", mutShort(k))
		}
	}
	gotKeys := target.Keys()
	for _, k := range gotKeys {
		if !wantKeys[k] {
			t.Errorf("key %q was evicted, and no change maps to it", mutShort(k))
		}
	}
	if flushes := target.Flushes(); flushes != 0 {
		t.Errorf("%d flushes, want none", flushes)
	}

	// (d) Every partition's committed offset is its end: no record is
	// left to be delivered again.
	if lag := commitLag(c, group, topics...); lag != "" {
		t.Errorf("not committed: %s", lag)
	}
	var committed []string
	info := c.GroupInfo(group)
	for _, topic := range topics {
		for _, p := range c.PartitionInfos(topic) {
			committed = append(committed, fmt.Sprintf("%s/%d@%d", topic, p.Partition, info.Commits[topic][p.Partition].Offset))
		}
	}

	t.Logf("%d records (%d mutated), drained in %v; committed: %s", len(byPos), mutated, drained.Round(time.Millisecond),
		strings.Join(committed, " "))
	t.Logf("counted: applied %d, skipped %d, dead-lettered %d (hook: %d); %d distinct keys evicted",
		got[0], got[1], got[2], len(dead.list()), len(gotKeys))
	for _, cat := range slices.Sorted(maps.Keys(perCategory)) {
		n := perCategory[cat]
		t.Logf("%-18s %4d records: %4d dead letters (%d undecodable, %d mapped in part), %3d skipped, %4d applied, %3d tombstones/not a change",
			cat, n.msgs, n.deadSeen, n.dead, n.deadMapped, n.skipped, n.applied, n.ignored)
	}
}

// newLargeCluster is newCluster for TestSource_MutatedMessages: the users
// and audit topics, and records of up to 32 MiB, so that a value over
// cdc.MaxDebeziumSize reaches the Source.
func newLargeCluster(t testing.TB) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(mutUsersPartitions, usersTopic),
		kfake.SeedTopics(mutAuditPartitions, auditTopic), kfake.GroupMinSessionTimeout(500*time.Millisecond),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(32 << 20)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newLargeProducer is newProducer with batches of up to 32 MiB.
func newLargeProducer(t testing.TB, c *kfake.Cluster) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(32<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// mutPosition is a record's position as the Source writes it.
func mutPosition(r *kgo.Record) string {
	return r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
}

// mutShort cuts a long key for a message.
func mutShort(s string) string {
	if len(s) <= 60 {
		return s
	}
	return s[:60] + fmt.Sprintf("... (%d bytes)", len(s))
}

// mutWant is what a record becomes.
type mutWant int

const (
	// wantApplied: decoded and mapped; counted as applied, its keys evicted.
	wantApplied mutWant = iota
	// wantDeadMapped: decoded, mapped in part (a key column missing):
	// dead-lettered with its event (and counted so, not as applied).
	wantDeadMapped
	// wantDead: not decoded (ErrMalformed): dead-lettered with its bytes.
	wantDead
	// wantSkipped: a change of a table no rule maps: counted as skipped.
	wantSkipped
	// wantIgnored: a tombstone or a logical decoding message: neither
	// counted nor dead-lettered.
	wantIgnored
)

func (w mutWant) String() string {
	return [...]string{"applied", "dead-lettered with its event", "dead-lettered", "skipped", "ignored"}[w]
}

// mutMsg is a record to produce and what it must become.
type mutMsg struct {
	category, kind string
	topic          string
	key, value     []byte
	want           mutWant
	keys           []string // the keys it evicts
}

// record is m as a record of partition p.
func (m mutMsg) record(p int32) *kgo.Record {
	return &kgo.Record{Topic: m.topic, Partition: p, Key: m.key, Value: m.value}
}

// change is a Debezium change event under construction: each field holds
// its member's JSON text, "" to leave the member out.
type change struct {
	topic                     string
	key                       string // the record's key; "" for none
	before, after, source, op string
	tail                      string // the members after op
}

// defaultTail is the members of a Debezium event after op.
const defaultTail = `"ts_ms":1559033905000,"transaction":null`

// value returns c's JSON text.
func (c change) value() string {
	var b strings.Builder
	b.WriteByte('{')
	for _, m := range [][2]string{{"before", c.before}, {"after", c.after}, {"source", c.source}, {"op", c.op}} {
		if m[1] != "" {
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + m[0] + `":` + m[1])
		}
	}
	if c.tail != "" {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(c.tail)
	}
	b.WriteByte('}')
	return b.String()
}

// msg returns c as a record expected to become want, evicting keys.
func (c change) msg(want mutWant, keys ...string) mutMsg {
	return mutMsg{topic: c.topic, key: bytesOrNil(c.key), value: []byte(c.value()), want: want, keys: keys}
}

// bytesOrNil is s's bytes, nil for "".
func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// mutGen makes records deterministically from its random source.
type mutGen struct {
	t                  testing.TB
	r                  *rand.Rand
	nextMut, nextValid int
}

// mutID returns a new id for a mutated change.
func (g *mutGen) mutID() string {
	g.nextMut++
	return strconv.Itoa(g.nextMut)
}

// partition returns a random partition of topic.
func (g *mutGen) partition(topic string) int32 {
	if topic == auditTopic {
		return g.r.Int32N(mutAuditPartitions)
	}
	return g.r.Int32N(mutUsersPartitions)
}

// pick returns one of choices.
func pick[T any](g *mutGen, choices ...T) T { return choices[g.r.IntN(len(choices))] }

// swap replaces the first old in s with repl; old must be there.
func (g *mutGen) swap(s, old, repl string) string {
	g.t.Helper()
	if !strings.Contains(s, old) {
		g.t.Fatalf("generator: %q not in %q", old, s)
	}
	return strings.Replace(s, old, repl, 1)
}

// create is a valid create of users' row id, in the users topic.
func (g *mutGen) create(id string) change {
	return change{topic: usersTopic, key: idKey(id), before: "null", after: `{"id":` + id + `,"company_id":1}`,
		source: dbzSource("users"), op: `"c"`, tail: defaultTail}
}

// validChange returns a valid change of the users table, in one of the
// forms Debezium writes, and the keys it evicts.
func (g *mutGen) validChange(next func() string) (change, []string) {
	id := next()
	c := g.create(id)
	row := func(id string, company int) string {
		return `{"id":` + id + `,"company_id":` + strconv.Itoa(company) + `}`
	}
	switch g.r.IntN(7) {
	case 0: // a create
	case 1: // a snapshot read
		c.op = `"r"`
	case 2: // an update
		c.op, c.before, c.after = `"u"`, row(id, 1), row(id, 2)
	case 3: // an update with REPLICA IDENTITY DEFAULT: no old row
		c.op, c.after = `"u"`, row(id, 3)
	case 4: // an update that moves the row to another id
		moved := next()
		c.op, c.before, c.after = `"u"`, row(id, 1), row(moved, 1)
		return c, []string{id, moved}
	case 5: // a delete
		c.op, c.before, c.after = `"d"`, row(id, 1), "null"
	case 6: // a delete whose old row is the key
		c.op, c.before, c.after = `"d"`, "null", "null"
	}
	return c, []string{id}
}

// valid returns a valid change, to go between the mutated ones.
func (g *mutGen) valid() mutMsg {
	c, keys := g.validChange(func() string { g.nextValid++; return strconv.Itoa(g.nextValid) })
	m := c.msg(wantApplied, keys...)
	if g.r.IntN(4) == 0 { // with schemas.enable
		m.value = []byte(`{"schema":{"type":"struct","optional":false},"payload":` + string(m.value) + `}`)
	}
	m.category, m.kind = "(valid)", "valid"
	return m
}

// validValue returns the value of a valid change to mutate, of a new id.
func (g *mutGen) validValue() string {
	c, _ := g.validChange(g.mutID)
	if g.r.IntN(4) == 0 {
		return `{"schema":{"type":"struct"},"payload":` + c.value() + `}`
	}
	return c.value()
}

// raw is a record of the users topic with the given bytes.
func raw(key, value []byte, want mutWant, keys ...string) mutMsg {
	return mutMsg{topic: usersTopic, key: key, value: value, want: want, keys: keys}
}

// notWhitespace are control bytes that JSON allows nowhere, not even in
// a string.
var notWhitespace = []byte{0x00, 0x01, 0x02, 0x07, 0x08, 0x0b, 0x0c, 0x0e, 0x1b, 0x1f}

// mutation makes a record of one kind.
type mutation struct {
	kind string
	make func(g *mutGen) mutMsg
}

// mutCategories are the kinds of mutated records, by category.
func mutCategories() map[string][]mutation {
	big := func(g *mutGen) string { // an integer beyond 2^53, of 17 to 400 digits
		var b strings.Builder
		if g.r.IntN(4) == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(byte('1' + g.r.IntN(9)))
		for range 16 + g.r.IntN(384) {
			b.WriteByte(byte('0' + g.r.IntN(10)))
		}
		return b.String()
	}
	// withID is a create of the column id written as text, evicting key.
	withID := func(text, key string) func(g *mutGen) mutMsg {
		return func(g *mutGen) mutMsg {
			c := g.create(g.mutID())
			c.after = `{"id":` + text + `,"company_id":1}`
			return c.msg(wantApplied, key)
		}
	}
	// source makes a create whose source block has news[i] in place of
	// olds[i%len(olds)], for a random i.
	source := func(want mutWant, olds, news []string) func(g *mutGen) mutMsg {
		return func(g *mutGen) mutMsg {
			id := g.mutID()
			c := g.create(id)
			i := g.r.IntN(len(news))
			c.source = g.swap(c.source, olds[i%len(olds)], news[i])
			if want == wantApplied {
				return c.msg(want, id)
			}
			return c.msg(want)
		}
	}
	return map[string][]mutation{
		"bad JSON": {
			{"truncated", func(g *mutGen) mutMsg {
				v := g.validValue()
				return raw(nil, []byte(v[:1+g.r.IntN(len(v)-1)]), wantDead)
			}},
			{"garbage bytes", func(g *mutGen) mutMsg {
				v := []byte(g.validValue())
				for range 1 + g.r.IntN(8) {
					v[g.r.IntN(len(v))] = byte(g.r.IntN(256))
				}
				v[g.r.IntN(len(v))] = pick(g, notWhitespace...)
				return raw(nil, v, wantDead)
			}},
			{"random bytes", func(g *mutGen) mutMsg {
				v := make([]byte, 1+g.r.IntN(256))
				for i := range v {
					v[i] = byte(g.r.IntN(256))
				}
				v[g.r.IntN(len(v))] = pick(g, notWhitespace...)
				return raw([]byte(idKey("1")), v, wantDead)
			}},
			{"invalid UTF-8 outside strings", func(g *mutGen) mutMsg {
				// Inside a string it would be replaced with U+FFFD (see
				// below): put it where a value or a name starts.
				v := g.validValue()
				bad := pick(g, "\xff", "\xc3", "\xed\xa0\x80", "\xf8\x88\x80\x80\x80")
				switch g.r.IntN(3) {
				case 0:
					v = bad + v
				case 1:
					v = g.swap(v, `"source":`, `"source":`+bad)
				case 2:
					v = g.swap(v, `,"op"`, `,`+bad+`"op"`)
				}
				return raw(nil, []byte(v), wantDead)
			}},
			{"BOM", func(g *mutGen) mutMsg {
				return raw(nil, []byte("\xef\xbb\xbf"+g.validValue()), wantDead)
			}},
			{"data after the document", func(g *mutGen) mutMsg {
				return raw(nil, []byte(g.validValue()+pick(g, "}", " {}", "x", ",", "\x00", `{"op":"c"}`)), wantDead)
			}},
			{"syntax", func(g *mutGen) mutMsg {
				v := g.validValue()
				switch g.r.IntN(6) {
				case 0:
					v = g.swap(v, `"op":`, `"op"`) // no colon
				case 1:
					v = g.swap(v, `"source":`, `'source':`) // single quotes
				case 2:
					v = g.swap(v, `"source":`, `source:`) // a bare name
				case 3:
					v = v[:len(v)-1] + ",}" // a trailing comma
				case 4:
					v = g.swap(v, `"source":`, `/* c */ "source":`) // a comment
				case 5:
					v = g.swap(v, `"source":`, `"source" = `)
				}
				return raw(nil, []byte(v), wantDead)
			}},
			{"deep nesting, over the limit", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				d := 10001 + g.r.IntN(20000)
				if g.r.IntN(2) == 0 {
					c.after = `{"id":1,"x":` + strings.Repeat("[", d) + strings.Repeat("]", d) + `}`
				} else {
					c.after = `{"id":1,"x":` + strings.Repeat(`{"a":`, d) + "1" + strings.Repeat("}", d) + `}`
				}
				return c.msg(wantDead)
			}},
			{"deep nesting, within the limit", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				d := 1 + g.r.IntN(1000)
				c.after = `{"id":` + id + `,"x":` + strings.Repeat("[", d) + strings.Repeat("]", d) + `}`
				return c.msg(wantApplied, id)
			}},
			{"invalid UTF-8 in the id string", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				c.after = "{\"id\":\"u\xff" + id + "\xfe\",\"company_id\":1}"
				return c.msg(wantApplied, "u\uFFFD"+id+"\uFFFD") // as encoding/json does
			}},
			{"invalid UTF-8 in the id's name", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.after = "{\"i\xffd\":1,\"company_id\":1}"
				return c.msg(wantDeadMapped)
			}},
			{"invalid UTF-8 in op", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op = "\"c\xff\""
				return c.msg(wantDead)
			}},
			{"invalid UTF-8 in source.table", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.source = dbzSource("users\xff") // users\uFFFD, which no rule maps
				return c.msg(wantSkipped)
			}},
		},
		"wrong types": {
			{"id as an object", func(g *mutGen) mutMsg {
				id := g.mutID()
				return withID(`{ "v" : `+id+` , "w" : [1, 2] }`, `{"v":`+id+`,"w":[1,2]}`)(g)
			}},
			{"id as an array", func(g *mutGen) mutMsg {
				id := g.mutID()
				return withID(`[ `+id+`, "x", null ]`, `[`+id+`,"x",null]`)(g)
			}},
			{"id as a bool", func(g *mutGen) mutMsg {
				b := pick(g, "true", "false")
				return withID(b, b)(g)
			}},
			{"id as a string", func(g *mutGen) mutMsg {
				id := g.mutID()
				if g.r.IntN(2) == 0 {
					return withID(`"`+id+`"`, id)(g)
				}
				return withID(`"`+id+`\"\u00e9\n"`, id+"\"é\n")(g)
			}},
			{"op as a number", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op = pick(g, "1", "99", "-1.5", "0")
				return c.msg(wantDead)
			}},
			{"op of another type", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op = pick(g, "true", "{}", `["c"]`, "null", `{"op":"c"}`)
				return c.msg(wantDead)
			}},
			{"op unknown", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op = pick(g, `"x"`, `"C"`, `""`, `"create"`, `"c "`)
				return c.msg(wantDead)
			}},
			{"before or after not an object", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				bad := pick(g, `"`+id+`"`, id, "[]", "true", `"{\"id\":`+id+`}"`)
				if g.r.IntN(2) == 0 {
					c.after = bad
				} else {
					c.op, c.before = `"u"`, bad
				}
				return c.msg(wantDead)
			}},
			{"source.table not a string", source(wantDead, []string{`"table":"users"`},
				[]string{`"table":42`, `"table":{"name":"users"}`, `"table":["users"]`, `"table":true`, `"table":null`, `"table":""`})},
			{"source.schema or source.db not a string", source(wantDead, []string{`"schema":"public"`, `"db":"postgres"`},
				[]string{`"schema":1`, `"db":["postgres"]`, `"schema":{}`, `"db":false`})},
			{"source.ts_ms not a number", source(wantDead, []string{`"ts_ms":1559033904863`},
				[]string{`"ts_ms":"1559033904863"`, `"ts_ms":true`, `"ts_ms":{}`})},
			{"source not an object", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.source = pick(g, `"users"`, "[]", "1", "null", "")
				return c.msg(wantDead)
			}},
			{"key not an object", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				c.key = pick(g, "["+id+"]", id, `"`+id+`"`, "true", `{"id":`, "{\"id\":\x01}")
				return c.msg(wantDead)
			}},
			{"rows that do not fit the op", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				row := `{"id":` + id + `}`
				switch g.r.IntN(5) {
				case 0:
					c.before = row // a create with an old row
				case 1:
					c.op, c.before = `"r"`, row
				case 2:
					c.op, c.before = `"d"`, row // a delete with a new row
				case 3:
					c.op, c.before, c.after = `"u"`, row, "null"
				case 4:
					c.op, c.before, c.after = `"t"`, row, "null"
				}
				return c.msg(wantDead)
			}},
			{"unread fields of any type", source(wantApplied, []string{`"txId":556`, `"snapshot":"false"`, `"lsn":24023128`, `"sequence":`, `"version":"3.0.5.Final"`},
				[]string{`"txId":"556"`, `"snapshot":true`, `"lsn":"0/16B3748"`, `"sequence":{"a":1},"x":`, `"version":7`})},
			{"unread payload members of any type", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				c.tail = pick(g, `"ts_ms":"soon","transaction":42`, `"transaction":{"id":1}`, "", `"ts_ms":1e400`)
				return c.msg(wantApplied, id)
			}},
		},
		"missing key column": {
			{"create without id", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.after = pick(g, `{"company_id":1}`, `{}`)
				return c.msg(wantDeadMapped)
			}},
			{"id null", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.after = `{"id":null,"company_id":1}`
				return c.msg(wantDeadMapped)
			}},
			{"id named otherwise", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				c.after = `{` + pick(g, `"ID"`, `"Id"`, `"id "`, `"user_id"`, `"\u0069d2"`) + `:` + id + `}`
				return c.msg(wantDeadMapped)
			}},
			{"update, old row without id", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				c.op, c.before = `"u"`, `{"company_id":1}`
				return c.msg(wantDeadMapped, id) // the new row's key is evicted
			}},
			{"update without old row, new row without id", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op, c.after = `"u"`, `{"company_id":2}`
				return c.msg(wantDeadMapped)
			}},
			{"delete, old row without id", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op, c.before, c.after = `"d"`, pick(g, `{}`, `{"company_id":1}`), "null"
				return c.msg(wantDeadMapped)
			}},
			{"delete without old row or key", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op, c.before, c.after = `"d"`, pick(g, "null", ""), pick(g, "null", "")
				c.key = pick(g, "", "null", `{"schema":null,"payload":null}`)
				return c.msg(wantDeadMapped)
			}},
			{"delete without old row, key without id", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				c.op, c.before, c.after, c.key = `"d"`, "null", "null", `{"uid":`+id+`}`
				return c.msg(wantDeadMapped)
			}},
		},
		"unknown table": {
			{"unmapped topic and table", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.topic, c.source = auditTopic, dbzSource("audit")
				return c.msg(wantSkipped)
			}},
			{"unmapped table in the users topic", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.source = dbzSource(pick(g, "nosuch", "Users", "users ", "public.users", "orders"))
				return c.msg(wantSkipped)
			}},
			{"another schema", source(wantSkipped, []string{`"schema":"public",`},
				[]string{`"schema":"archive",`, `"schema":"Public",`, ``, `"schema":null,`, `"schema":"",`})},
			{"unmapped table, row without id", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.topic, c.source, c.after = auditTopic, dbzSource("audit"), `{"x":1}`
				return c.msg(wantSkipped)
			}},
			{"unmapped table, truncate", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.topic, c.source, c.op, c.before, c.after, c.key = auditTopic, dbzSource("audit"), `"t"`, "null", "null", ""
				return c.msg(wantSkipped)
			}},
			{"unmapped table, delete without old row or key", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.topic, c.source, c.op, c.before, c.after, c.key = auditTopic, dbzSource("audit"), `"d"`, "null", "null", ""
				return c.msg(wantSkipped)
			}},
			{"unmapped table, malformed", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.topic, c.source, c.op = auditTopic, dbzSource("audit"), pick(g, `"x"`, "1", "null")
				return c.msg(wantDead) // decoding comes first
			}},
		},
		"huge numbers": {
			{"integer id beyond 2^53", func(g *mutGen) mutMsg {
				n := pick(g, big(g), big(g), "123456789012345678901234567890", "9007199254740993", "18446744073709551616",
					"-9223372036854775809")
				return withID(n, n)(g)
			}},
			{"float-like id", func(g *mutGen) mutMsg {
				n := pick(g, "1e400", "-1e-400", "1E+2", "1.5", "1.50", "0.1", "-0", "-0.0", "1e400000000")
				return withID(n, n)(g)
			}},
			{"huge id in the key of a delete", func(g *mutGen) mutMsg {
				n := big(g)
				c := g.create(g.mutID())
				c.op, c.before, c.after, c.key = `"d"`, "null", "null", idKey(n)
				return c.msg(wantApplied, n)
			}},
			{"source.ts_ms not an int64", source(wantDead, []string{`"ts_ms":1559033904863`},
				[]string{`"ts_ms":1e400`, `"ts_ms":1.5`, `"ts_ms":123456789012345678901234567890`, `"ts_ms":9223372036854775808`,
					`"ts_ms":-9223372036854775809`, `"ts_ms":1559033904863.0`})},
			{"source.ts_ms -0", source(wantApplied, []string{`"ts_ms":1559033904863`}, []string{`"ts_ms":-0`})},
			{"invalid number", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.after = `{"id":` + pick(g, "01", "+1", ".5", "1.", "NaN", "Infinity", "-", "1e", "0x1F", "1_000", "--1") + `}`
				return c.msg(wantDead)
			}},
		},
		"null/empty": {
			{"nil value", func(g *mutGen) mutMsg { return raw([]byte(idKey(g.mutID())), nil, wantIgnored) }},
			{"empty value", func(g *mutGen) mutMsg { return raw([]byte(idKey(g.mutID())), []byte{}, wantIgnored) }},
			{"JSON null", func(g *mutGen) mutMsg {
				return raw([]byte(idKey(g.mutID())), []byte(pick(g, "null", " null\n", "\tnull ")), wantIgnored)
			}},
			{"only spaces", func(*mutGen) mutMsg { return raw(nil, []byte(" \t\r\n "), wantDead) }},
			{"empty object", func(*mutGen) mutMsg { return raw(nil, []byte("{}"), wantDead) }},
			{"not an object", func(g *mutGen) mutMsg {
				return raw(nil, []byte(pick(g, `""`, "0", "[]", "true", `"c"`, "[null]", "nul")), wantDead)
			}},
			{"null op and rows", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op, c.before, c.after = "null", "null", "null"
				return c.msg(wantDead)
			}},
			{"create with a null new row", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.after = pick(g, "null", "")
				return c.msg(wantDead)
			}},
			{"logical decoding message", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op, c.before, c.after, c.key = `"m"`, "", "", ""
				c.tail = `"message":{"prefix":"x","content":"eA=="}`
				return c.msg(wantIgnored)
			}},
			{"null or no key", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				c.key = pick(g, "", "null", " null ")
				return c.msg(wantApplied, id)
			}},
		},
		"wrapper": {
			{"null payload", func(g *mutGen) mutMsg {
				return raw([]byte(idKey(g.mutID())), []byte(pick(g, `{"schema":{"type":"struct"},"payload":null}`, `{"schema":null,"payload":null}`)), wantIgnored)
			}},
			{"payload not an object", func(g *mutGen) mutMsg {
				return raw(nil, []byte(`{"schema":{"type":"struct"},"payload":`+pick(g, `"x"`, "[]", "1", "true", `"{}"`)+`}`), wantDead)
			}},
			{"empty payload", func(*mutGen) mutMsg { return raw(nil, []byte(`{"schema":{},"payload":{}}`), wantDead) }},
			{"truncated payload", func(g *mutGen) mutMsg {
				v := g.create(g.mutID()).value()
				return raw(nil, []byte(`{"schema":{},"payload":`+v[:1+g.r.IntN(len(v)-1)]+`}`), wantDead)
			}},
			{"payload with a bad op", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.op = pick(g, `"x"`, "1", "null")
				return raw(nil, []byte(`{"schema":{},"payload":`+c.value()+`}`), wantDead)
			}},
			{"schema not an object", func(g *mutGen) mutMsg {
				v := g.create(g.mutID()).value()
				return raw(nil, []byte(`{"schema":`+pick(g, `"struct"`, "[]", "1", "true")+`,"payload":`+v+`}`), wantDead)
			}},
			{"a third member", func(g *mutGen) mutMsg {
				v := g.create(g.mutID()).value()
				return raw(nil, []byte(`{"schema":{},"payload":`+v+`,"extra":1}`), wantDead)
			}},
			{"payload alone", func(g *mutGen) mutMsg {
				v := g.create(g.mutID()).value()
				return raw(nil, []byte(`{"payload":`+v+`}`), wantDead)
			}},
			{"wrapped twice", func(g *mutGen) mutMsg {
				v := g.create(g.mutID()).value()
				return raw(nil, []byte(`{"schema":{},"payload":{"schema":{},"payload":`+v+`}}`), wantDead)
			}},
			{"members reversed", func(g *mutGen) mutMsg {
				id := g.mutID()
				v := g.create(id).value()
				return raw(nil, []byte(`{"payload":`+v+`,"schema":{"type":"struct"}}`), wantApplied, id)
			}},
			{"wrapped key, bad payload", func(g *mutGen) mutMsg {
				c := g.create(g.mutID())
				c.key = `{"schema":{},"payload":` + pick(g, `"x"`, "[]", "1", `{"id":`) + `}`
				return c.msg(wantDead)
			}},
			{"wrapped key of a delete", func(g *mutGen) mutMsg {
				id := g.mutID()
				c := g.create(id)
				c.op, c.before, c.after, c.key = `"d"`, "null", "null", `{"schema":{"type":"struct"},"payload":{"id":`+id+`}}`
				return c.msg(wantApplied, id)
			}},
		},
	}
}

// oversized are the records of category "oversized", made once each for
// their size: one over cdc.MaxDebeziumSize, through Kafka, and a valid one
// of a few MiB. (A value of exactly MaxDebeziumSize bytes is decoded in
// package cdc's tests; here, under -race, it would cost seconds.)
func oversized() []mutation {
	// padded is a create of a new id whose new row has a column "pad" that
	// makes the value size bytes long, built with one copy of the pad.
	padded := func(g *mutGen, size int, want mutWant) mutMsg {
		id := g.mutID()
		c := g.create(id)
		c.after = `{"id":` + id + `,"pad":"@"}`
		head, tail, _ := strings.Cut(c.value(), "@")
		v := make([]byte, size)
		copy(v, head)
		pad := v[len(head) : size-len(tail)]
		pad[0] = 'x'
		for n := 1; n < len(pad); n *= 2 {
			copy(pad[n:], pad[:n])
		}
		copy(v[size-len(tail):], tail)
		m := c.msg(want)
		m.value = v
		if want == wantApplied {
			m.keys = []string{id}
		}
		return m
	}
	return []mutation{
		{"3 MiB", func(g *mutGen) mutMsg { return padded(g, 3<<20, wantApplied) }},
		{"MaxDebeziumSize+1", func(g *mutGen) mutMsg { return padded(g, cdc.MaxDebeziumSize+1, wantDead) }},
	}
}

// mutants returns n mutated records in a random order: each kind once,
// then kinds of categories picked at random (the oversized ones only
// once).
func (g *mutGen) mutants(n int) []mutMsg {
	cats := mutCategories()
	names := slices.Sorted(maps.Keys(cats))
	var out []mutMsg
	add := func(cat string, m mutation) {
		msg := m.make(g)
		msg.category, msg.kind = cat, m.kind
		out = append(out, msg)
	}
	for _, m := range oversized() {
		add("oversized", m)
	}
	for _, cat := range names {
		for _, m := range cats[cat] {
			add(cat, m)
		}
	}
	for len(out) < n {
		cat := names[g.r.IntN(len(names))]
		add(cat, cats[cat][g.r.IntN(len(cats[cat]))])
	}
	g.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
