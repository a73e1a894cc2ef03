package pgsource

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// evictions records what an engine's Targets are asked to evict, in
// order, as lines ("user: delete 1 2", "user: tags company:10", "user:
// flush"), and counts each key's evictions. It can fail the first calls.
type evictions struct {
	mu       sync.Mutex
	lines    []string
	keys     map[string]int // "ns/key" -> evictions
	failures int            // the calls still to fail
	failed   int            // the calls that failed
	onFail   func()         // called (without the lock) on each failing call
}

func newEvictions() *evictions { return &evictions{keys: make(map[string]int)} }

// target returns the Target of namespace ns.
func (e *evictions) target(ns string) cdc.Target { return evictionTarget{e, ns} }

func (e *evictions) note(line string, keys []string) error {
	e.mu.Lock()
	if e.failures > 0 {
		e.failures--
		e.failed++
		onFail := e.onFail
		e.mu.Unlock()
		if onFail != nil {
			onFail()
		}
		return fmt.Errorf("injected failure of %q", line)
	}
	defer e.mu.Unlock()
	e.lines = append(e.lines, line)
	for _, k := range keys {
		e.keys[k]++
	}
	return nil
}

// setOnFail sets the function called on each failing call.
func (e *evictions) setOnFail(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onFail = f
}

// setFailures makes the next n calls fail.
func (e *evictions) setFailures(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failures = n
}

func (e *evictions) failedCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

func (e *evictions) got() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.lines)
}

// count returns how many times key of ns was evicted.
func (e *evictions) count(ns, key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.keys[ns+"/"+key]
}

// reset forgets every line and count.
func (e *evictions) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = nil
	clear(e.keys)
}

type evictionTarget struct {
	e  *evictions
	ns string
}

func (t evictionTarget) Delete(_ context.Context, keys ...string) error {
	counted := make([]string, len(keys))
	for i, k := range keys {
		counted[i] = t.ns + "/" + k
	}
	return t.e.note(t.ns+": delete "+strings.Join(keys, " "), counted)
}

func (t evictionTarget) InvalidateTags(_ context.Context, tags ...string) error {
	return t.e.note(t.ns+": tags "+strings.Join(tags, " "), nil)
}

func (t evictionTarget) Flush(context.Context) error { return t.e.note(t.ns+": flush", nil) }

// newEngine returns an engine of rules whose every namespace evicts
// through ev; dead letters are appended to *dead when dead is not nil.
func newEngine(t testing.TB, ev *evictions, dead *deadLetters, rules ...cdc.Rule) *cdc.Engine {
	t.Helper()
	targets := make(map[string]cdc.Target)
	for _, r := range rules {
		targets[r.Namespace] = ev.target(r.Namespace)
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
