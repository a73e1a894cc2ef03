package pgsource

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
)

// The environment of TestHelperSource, the child of TestSource_KilledAndRestarted.
const (
	envChildDSN = "PGSOURCE_TEST_CHILD_DSN"
	envChildOut = "PGSOURCE_TEST_CHILD_OUT"
)

// Acceptance: the source is killed (SIGKILL, no goodbye, no last status
// update) mid-stream and started again, and the server itself is killed
// and restarted mid-stream, while a writer updates one row after the
// other. Every committed update is evicted, by the killed source before
// it confirmed it or by the next one: none is missed. The sources are
// this test binary run again as child processes (TestHelperSource); each
// appends the keys it evicts to a file, before its engine returns, so
// that the file holds at least what the source confirmed.
func TestSource_KilledAndRestarted(t *testing.T) {
	t.Parallel()
	const rows = 100000
	pg := newPG(t, itemsSetup(rows))
	out := filepath.Join(t.TempDir(), "evicted")
	evicted := func() int { return len(readKeys(t, out)) }

	first := startSource(t, pg, out)
	waitFor(t, waitTimeout, "the first source to hold the slot", func() bool {
		var active bool
		err := pg.conn.QueryRow(t.Context(), "SELECT active FROM pg_replication_slots WHERE slot_name = 'tiercache'").Scan(&active)
		return err == nil && active
	})
	var last, writes atomic.Int64
	stopWrites := make(chan struct{})
	result := make(chan error, 1)
	go func() { result <- updateThroughCrashes(pg.srv.DSN("postgres"), rows, &last, &writes, stopWrites) }()

	waitFor(t, waitTimeout, "the first source to evict 300 updates", func() bool { return evicted() >= 300 })
	first.kill()
	killedAt, byFirst := writes.Load(), evicted()
	second := startSource(t, pg, out)
	waitFor(t, waitTimeout, "the second source to evict 300 more", func() bool { return evicted() >= byFirst+300 })

	if err := pg.srv.Kill(); err != nil {
		t.Fatal(err)
	}
	crashedAt := writes.Load()
	if err := pg.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	pg.conn = pg.connect() // the first one died with the server
	target := writes.Load() + 300
	waitFor(t, waitTimeout, "300 updates after the restart", func() bool { return writes.Load() >= target })
	close(stopWrites)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	lsn := pg.walLSN()
	waitFor(t, waitTimeout, "the slot to confirm "+lsn.String(), func() bool { return pg.slotLSN() >= lsn })
	second.kill()

	updated := int(last.Load()) // ids 1..updated were each committed once at least
	keys := readKeys(t, out)
	var missed []int
	total := 0
	for id := 1; id <= updated; id++ {
		n := keys[strconv.Itoa(id)]
		if n == 0 {
			missed = append(missed, id)
		}
		total += n
	}
	if len(missed) > 0 {
		t.Fatalf("%d of %d committed updates not evicted: ids %v", len(missed), updated, missed[:min(len(missed), 10)])
	}
	t.Logf("%d committed updates, 0 missed: %d evictions, %d redelivered; the first source was killed after %d updates (%d evicted), the server after %d; the second source reconnected %d times",
		updated, total, total-updated, killedAt, byFirst, crashedAt, second.count("reconnecting"))
}

// child is a source running in a child process.
type child struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	once sync.Once
	mu   *sync.Mutex
}

// startSource starts TestHelperSource in a child process; it is killed at
// the test's end at the latest.
func startSource(t *testing.T, pg *pgEnv, out string) *child {
	t.Helper()
	c := &child{out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperSource$", "-test.count=1", "-test.v")
	c.cmd.Env = append(os.Environ(), envChildDSN+"="+pg.srv.DSN("postgres"), envChildOut+"="+out)
	w := lockedWriter{c.mu, c.out}
	c.cmd.Stdout, c.cmd.Stderr = w, w
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			c.mu.Lock()
			t.Logf("the child's output:\n%s", c.out.String())
			c.mu.Unlock()
		}
	})
	return c
}

// kill sends SIGKILL and reaps the child.
func (c *child) kill() {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		_ = c.cmd.Wait()
	})
}

// count returns how many lines of the child's output hold s.
func (c *child) count(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Count(c.out.Bytes(), []byte(s))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// readKeys returns the keys the sources evicted, with how many times.
func readKeys(t testing.TB, path string) map[string]int {
	t.Helper()
	keys, err := cdctest.ReadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// updateThroughCrashes updates ids 1, 2, 3... up to rows in order, one
// autocommit UPDATE each, or until stop is closed (nil: never); after an
// error it reconnects and updates the same id again. It counts the updates
// in *writes and leaves in *last the last id updated: each of 1..last was
// committed once at least.
func updateThroughCrashes(dsn string, rows int, last, writes *atomic.Int64, stop <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	retry := time.NewTicker(20 * time.Millisecond) // the pace of reconnections
	defer retry.Stop()
	for id := 1; id <= rows; {
		select {
		case <-stop:
			return nil
		default:
		}
		var err error
		if conn == nil {
			conn, err = pgx.Connect(ctx, dsn)
		}
		if err == nil {
			if _, err = conn.Exec(ctx, "UPDATE items SET v = v + 1 WHERE id = $1", id); err == nil {
				last.Store(int64(id))
				writes.Add(1)
				id++
				continue
			}
			_ = conn.Close(context.Background())
			conn = nil
		}
		select {
		case <-retry.C:
		case <-ctx.Done():
			return fmt.Errorf("update %d: %w (last error: %w)", id, ctx.Err(), err)
		}
	}
	return nil
}

// TestHelperSource is the source that TestSource_KilledAndRestarted kills:
// it streams items to a Target that appends the keys it evicts to a file.
// It runs only as that test's child.
func TestHelperSource(t *testing.T) {
	dsn := os.Getenv(envChildDSN)
	if dsn == "" {
		t.Skip("the child process of TestSource_KilledAndRestarted")
	}
	ft, err := cdctest.NewFileTarget(os.Getenv(envChildOut))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ft.Close() }()
	engine, err := cdc.New(&cdc.Options{Rules: []cdc.Rule{itemsRule}, Targets: map[string]cdc.Target{"item": ft}})
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(&Options{DSN: dsn, Engine: engine, CreatePublication: true, CreateSlot: true,
		StatusInterval: 100 * time.Millisecond, RetryBackoff: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// A child whose parent died does not linger.
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	if err := src.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
