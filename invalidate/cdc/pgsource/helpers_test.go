package pgsource

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// failCalls makes the next n calls of r fail, calling onFail (when not
// nil, without r's lock) on each.
func failCalls(r *cdctest.Recorder, n int, onFail func()) {
	var left atomic.Int64
	left.Store(int64(n))
	r.FailWith(func(call string) error {
		if left.Add(-1) < 0 {
			return nil
		}
		if onFail != nil {
			onFail()
		}
		return fmt.Errorf("injected failure of %q", call)
	})
}

// newEngine returns an engine of rules whose every namespace evicts
// through ev; dead letters are appended to *dead when dead is not nil.
func newEngine(t testing.TB, ev *cdctest.Recorder, dead *deadLetters, rules ...cdc.Rule) *cdc.Engine {
	t.Helper()
	targets := make(map[string]cdc.Target)
	for _, r := range rules {
		targets[r.Namespace] = ev.Target(r.Namespace)
	}
	opts := &cdc.Options{Rules: rules, Targets: targets}
	if dead != nil {
		opts.DeadLetters = dead.add
	}
	e, err := cdc.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// deadLetters collects an engine's dead letters.
type deadLetters struct {
	mu      sync.Mutex
	letters []cdc.DeadLetter
}

func (d *deadLetters) add(l cdc.DeadLetter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.letters = append(d.letters, l)
}

func (d *deadLetters) got() []cdc.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.letters)
}

// waitFor polls cond every few milliseconds until it holds, and fails t
// when it does not within timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// logs is a slog.Handler that keeps every record as a line of text.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logger() *slog.Logger { return slog.New(l) }

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }

func (l *logs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, b.String())
	return nil
}

// count returns how many lines contain s.
func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}
