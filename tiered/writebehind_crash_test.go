package tiered_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// envCrashRedis is the address of the Redis that TestHelperWriteBehindChild
// writes to; only the child of TestWriteBehind_Crash sets it.
const envCrashRedis = "TIERED_TEST_CRASH_REDIS"

// The crash test's writes: crashWrites values over crashKeys keys; write i
// gives key i % crashKeys version i+1, so the last accepted version of key
// k is crashWrites - crashKeys + k + 1.
const (
	crashWrites = 10_000
	crashKeys   = 2_000
)

// Acceptance: instance A (a child process) accepts 10,000 durable writes
// and is killed (SIGKILL) before any reached the source: its flusher had
// taken a batch and was stuck writing it. Instance B finishes them, the
// batch A held included once the queue's claim timeout passed: the source
// holds the last accepted value of every key, 0 lost.
func TestWriteBehind_Crash(t *testing.T) {
	redistest.Require(t)
	srv := redistest.NewServer(t)
	ctx := context.Background()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriteBehindChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envCrashRedis+"="+srv.Addr())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var accepted, flushing bool
	deadline := time.After(2 * time.Minute)
	for !accepted || !flushing {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the child exited before it accepted the writes")
			}
			accepted = accepted || strings.HasPrefix(l, "accepted ")
			flushing = flushing || strings.HasPrefix(l, "flushing ")
			if strings.HasPrefix(l, "accepted ") || strings.HasPrefix(l, "flushing ") {
				t.Log("child:", l)
			}
		case <-deadline:
			t.Fatal("timed out waiting for the child")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()

	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	queue, err := redisstore.NewQueue(client, &redisstore.QueueOptions{Namespace: "crash", Consumer: "b", ClaimAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := queue.Depth(ctx); err != nil || n != crashWrites {
		t.Fatalf("queue depth after the kill: %d, %v; want %d", n, err, crashWrites)
	}
	src := newRowSource()
	var st stats.Counter
	b, err := tiered.New(&tiered.Options[int64, User]{
		Name: "crash", L2: redisstore.New(client, nil), Loader: src, BatchWriter: src, Stats: &st,
		WriteBehind: &tiered.WriteBehindOptions[int64, User]{Queue: queue, Interval: 10 * time.Millisecond, BatchSize: 500},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.FlushBehind(fctx); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for k := range int64(crashKeys) {
		want := crashWrites - crashKeys + int(k) + 1
		if u, ok := src.row(k); !ok || u.Age != want {
			lost++
			if lost <= 10 {
				t.Errorf("key %d: the source has version %d (%v), the last accepted was %d", k, u.Age, ok, want)
			}
		}
	}
	s := st.Snapshot()
	src.mu.Lock()
	rows := len(src.rows)
	src.mu.Unlock()
	t.Logf("A accepted %d writes of %d keys and was killed; B wrote %d rows in %d batch calls within %v of the kill (entries: %d flushed, %d coalesced); %d keys lost",
		crashWrites, crashKeys, rows, src.batches.Load(), time.Since(killed).Round(time.Millisecond),
		s.Get(stats.WriteFlushed), s.Get(stats.WriteCoalesced), lost)
	if f, c := s.Get(stats.WriteFlushed), s.Get(stats.WriteCoalesced); f+c != crashWrites {
		t.Errorf("B finished %d flushed + %d coalesced entries, want %d", f, c, crashWrites)
	}
}

// TestHelperWriteBehindChild is instance A of TestWriteBehind_Crash, run as
// a child process: it accepts the writes, says so, and hangs in its first
// write of the source until it is killed.
func TestHelperWriteBehindChild(t *testing.T) {
	addr := os.Getenv(envCrashRedis)
	if addr == "" {
		t.Skip("the child of TestWriteBehind_Crash")
	}
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: addr})
	queue, err := redisstore.NewQueue(client, &redisstore.QueueOptions{Namespace: "crash", Consumer: "a", ClaimAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := redisbus.New(client, &redisbus.Options{Keys: testBusKeys})
	if err != nil {
		t.Fatal(err)
	}
	flushing := make(chan struct{}, 1)
	hang := tiered.BatchWriterFunc[int64, User](func(ctx context.Context, chs []tiered.Change[int64, User]) error {
		select {
		case flushing <- struct{}{}:
			fmt.Printf("flushing %d keys\n", len(chs))
		default:
		}
		<-ctx.Done() // a source that never answers
		return ctx.Err()
	})
	a, err := tiered.New(&tiered.Options[int64, User]{
		Name: "crash", L2: redisstore.New(client, nil), Bus: bus, BatchWriter: hang,
		WriteBehind: &tiered.WriteBehindOptions[int64, User]{
			Queue: queue, Interval: time.Hour, BatchSize: 100, WriteTimeout: time.Second, MaxQueued: 2 * crashWrites,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashWrites {
		k := int64(i % crashKeys)
		if err := a.WriteBehind(ctx, k, ver(k, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("accepted %d\n", crashWrites)
	select {} // killed here
}
