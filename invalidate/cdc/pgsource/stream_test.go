package pgsource

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
)

// streamTest drives a stream without a server: table public.t (id) maps to
// namespace t by {id}.
type streamTest struct {
	t       *testing.T
	st      *stream
	applied pglogrepl.LSN
	ev      *cdctest.Recorder
	dead    *deadLetters
	pauses  []time.Duration
	commit  time.Time
	xid     uint32     // the last transaction begun
	waited  [][]uint32 // the transactions of each wait for visibility
	// evictedBeforeWait is how many evictions had been made when each
	// wait began.
	evictedBeforeWait []int
}

func newStreamTest(t *testing.T, maxBatch int) *streamTest {
	t.Helper()
	tt := &streamTest{t: t, ev: cdctest.NewRecorder(), dead: &deadLetters{}, commit: time.Now()}
	engine := newEngine(t, tt.ev, tt.dead, cdc.Rule{Table: "public.t", Namespace: "t", Keys: []string{"{id}"}})
	cfg, err := newConfig(&Options{DSN: "postgres://u@127.0.0.1/app", Engine: engine, MaxBatch: maxBatch})
	if err != nil {
		t.Fatal(err)
	}
	tt.st = &stream{cfg: cfg, dec: newDecoder("app"), applied: &tt.applied,
		pause: func(ctx context.Context, d time.Duration) error {
			tt.pauses = append(tt.pauses, d)
			return ctx.Err()
		},
		visible: func(ctx context.Context, xids []uint32) error {
			tt.waited = append(tt.waited, slices.Clone(xids))
			tt.evictedBeforeWait = append(tt.evictedBeforeWait, len(tt.ev.Calls()))
			return ctx.Err()
		}}
	tt.feed(msgRelation(1, "public", "t", "id"))
	return tt
}

func (tt *streamTest) feed(msgs ...[]byte) {
	tt.t.Helper()
	for _, m := range msgs {
		if err := tt.st.xlog(context.Background(), 1, m); err != nil {
			tt.t.Fatal(err)
		}
	}
}

// begin begins a transaction, whose id is one more than the last's.
func (tt *streamTest) begin() []byte {
	tt.xid++
	return msgBegin(0, tt.commit, tt.xid)
}

func (tt *streamTest) end(lsn pglogrepl.LSN) []byte { return msgCommit(lsn-16, lsn, tt.commit) }

func ins(id string) []byte { return msgInsert(1, val(id)) }

func (tt *streamTest) idle() {
	tt.t.Helper()
	if err := tt.st.idle(context.Background()); err != nil {
		tt.t.Fatal(err)
	}
}

// expect checks the evictions so far and the applied position.
func (tt *streamTest) expect(applied pglogrepl.LSN, lines ...string) {
	tt.t.Helper()
	if got := tt.ev.Calls(); !reflect.DeepEqual(got, lines) && (len(got) > 0 || len(lines) > 0) {
		tt.t.Errorf("evictions %q, want %q", got, lines)
	}
	if tt.applied != applied {
		tt.t.Errorf("applied %v, want %v", tt.applied, applied)
	}
}

// Batches hold whole transactions, up to MaxBatch changes; what is pending
// goes when nothing more has arrived; the position advances to the end of
// the last transaction applied.
func TestStream_BatchesEndAtCommits(t *testing.T) {
	t.Parallel()
	tt := newStreamTest(t, 3)
	tt.feed(tt.begin(), ins("1"), tt.end(100), tt.begin(), ins("2"), tt.end(200))
	tt.expect(0)
	tt.feed(tt.begin(), ins("3")) // 3 pending: the two whole transactions go
	tt.expect(200, "t: delete 1 2")
	tt.feed(ins("4"), tt.end(300))
	tt.expect(200, "t: delete 1 2")
	tt.idle()
	tt.expect(300, "t: delete 1 2", "t: delete 3 4")
	tt.feed(tt.begin(), tt.end(400)) // an empty transaction, nothing pending
	tt.expect(400, "t: delete 1 2", "t: delete 3 4")
}

// A transaction larger than MaxBatch goes in parts, and its end is
// confirmed only after the last.
func TestStream_LargeTransactionInParts(t *testing.T) {
	t.Parallel()
	tt := newStreamTest(t, 3)
	tt.feed(tt.begin(), ins("1"), ins("2"), ins("3"))
	tt.expect(0, "t: delete 1 2 3")
	tt.feed(ins("4"), ins("5"), ins("6"), ins("7"))
	tt.expect(0, "t: delete 1 2 3", "t: delete 4 5 6")
	tt.feed(tt.end(500))
	tt.expect(0, "t: delete 1 2 3", "t: delete 4 5 6")
	tt.idle()
	tt.expect(500, "t: delete 1 2 3", "t: delete 4 5 6", "t: delete 7")

	// Exactly MaxBatch changes: applied whole at the commit.
	tt.ev.Reset()
	tt.feed(tt.begin(), ins("8"), ins("9"), ins("10"))
	tt.expect(500, "t: delete 8 9 10")
	tt.feed(tt.end(600))
	tt.expect(600, "t: delete 8 9 10")
}

// Each batch waits until its transactions are visible, before the engine
// sees it: the whole transactions it carries, or the one it is a part of.
func TestStream_WaitsForVisibility(t *testing.T) {
	t.Parallel()
	tt := newStreamTest(t, 3)
	tt.feed(tt.begin(), ins("1"), tt.end(100), tt.begin(), tt.end(150), tt.begin(), ins("2"), tt.end(200))
	tt.idle()
	tt.feed(tt.begin(), ins("3"), ins("4"), ins("5"), ins("6"), tt.end(300)) // in parts
	tt.idle()
	tt.expect(300, "t: delete 1 2", "t: delete 3 4 5", "t: delete 6")
	if want := [][]uint32{{1, 3}, {4}, {4}}; !reflect.DeepEqual(tt.waited, want) {
		t.Errorf("waited for %v, want %v (transaction 2 changed nothing)", tt.waited, want)
	}
	if want := []int{0, 1, 2}; !reflect.DeepEqual(tt.evictedBeforeWait, want) {
		t.Errorf("evictions made before each wait %v, want %v: a batch was applied before its wait", tt.evictedBeforeWait, want)
	}

	// The wait ends with Run's context: nothing applied, nothing confirmed.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tt.feed(tt.begin(), ins("7"), tt.end(400))
	if err := tt.st.idle(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("idle = %v, want context.Canceled", err)
	}
	tt.expect(300, "t: delete 1 2", "t: delete 3 4 5", "t: delete 6")
}

// A batch the engine fails to apply is applied again, with growing
// pauses, and nothing is confirmed until it succeeds.
func TestStream_ApplyRetried(t *testing.T) {
	t.Parallel()
	tt := newStreamTest(t, 10)
	failCalls(tt.ev, 3, func() {
		if tt.applied != 0 {
			t.Errorf("applied %v while the batch fails", tt.applied)
		}
	})
	tt.feed(tt.begin(), ins("1"), ins("2"), tt.end(100))
	tt.idle()
	tt.expect(100, "t: delete 1 2")
	if want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}; !reflect.DeepEqual(tt.pauses, want) {
		t.Errorf("pauses %v, want %v", tt.pauses, want)
	}

	// Run's context ends while a batch keeps failing: nothing confirmed.
	failCalls(tt.ev, 1000, nil)
	ctx, cancel := context.WithCancel(context.Background())
	tt.st.pause = func(context.Context, time.Duration) error { cancel(); return ctx.Err() }
	tt.feed(tt.begin(), ins("3"), tt.end(200))
	if err := tt.st.idle(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("idle = %v, want context.Canceled", err)
	}
	tt.expect(100, "t: delete 1 2")
}

// Keepalives advance the position while nothing is pending, never past a
// change that is not applied.
func TestStream_Keepalive(t *testing.T) {
	t.Parallel()
	tt := newStreamTest(t, 10)
	tt.st.keepalive(100)
	tt.expect(100)
	tt.feed(tt.begin(), ins("1"))
	tt.st.keepalive(150) // inside a transaction
	tt.expect(100)
	tt.feed(tt.end(300))
	tt.st.keepalive(320) // after it, while it is pending
	tt.expect(100)
	tt.idle()
	tt.expect(320, "t: delete 1")
	tt.st.keepalive(400)
	tt.expect(400, "t: delete 1")
	tt.st.keepalive(350) // never backwards
	tt.expect(400, "t: delete 1")
}

// A message that cannot be decoded is a dead letter; the stream goes on.
func TestStream_DeadLetters(t *testing.T) {
	t.Parallel()
	tt := newStreamTest(t, 10)
	tt.feed(tt.begin(), ins("1"), msgInsert(42, val("x")), []byte("Igarbage"), msgInsert(1, null), ins("2"), tt.end(100))
	tt.idle()
	tt.expect(100, "t: delete 1 2")
	dead := tt.dead.got()
	if len(dead) != 3 {
		t.Fatalf("%d dead letters, want 3: %+v", len(dead), dead)
	}
	for _, d := range dead[:2] {
		if d.Raw == nil || d.Position != "0/1" || !errors.Is(d.Err, errMalformed) {
			t.Errorf("dead letter %+v: want the raw message, position 0/1 and errMalformed", d)
		}
	}
	// An insert of a NULL id decodes; the engine dead-letters its event.
	if d := dead[2]; d.Event == nil || d.Event.Op != cdc.Create {
		t.Errorf("dead letter %+v: want the engine's, with the event", d)
	}
}

// FuzzStream feeds arbitrary messages to a stream: no panic, no error (a
// message that cannot be decoded is a dead letter), and the position never
// moves backwards.
func FuzzStream(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, m := range [][]byte{
		msgRelation(1, "public", "t", "id"), msgBegin(10, now, 1), msgCommit(10, 20, now),
		ins("1"), msgUpdate(1, 'O', []col{val("1")}, []col{val("2")}), msgUpdate(1, 'K', []col{val("1")}, []col{toast}),
		msgDelete(1, 'K', val("1")), msgTruncate(1, 2), msgInsert(1, null),
	} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tt := newStreamTest(t, 2)
		tt.feed(tt.begin(), ins("1"), tt.end(100))
		before := tt.applied
		if err := tt.st.xlog(context.Background(), 2, data); err != nil {
			t.Fatal(err)
		}
		tt.idle()
		if tt.applied < before {
			t.Fatalf("applied went back from %v to %v", before, tt.applied)
		}
	})
}
