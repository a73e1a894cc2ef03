package cdctest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// Recorder records the calls a cdc.Engine makes to its Targets: as lines
// in call order ("delete 1 2", "tags company:10", "flush"; prefixed with
// "ns: " through Target(ns)), and as counts of each key and tag. A failing
// call (see FailWith) records nothing. The zero value is not ready: use
// NewRecorder. Its methods are safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	calls   []string
	keys    map[string]int // evictions of each key ("ns/key" through a Target)
	tags    map[string]int
	flushes int
	failed  int
	fail    func(call string) error
}

var _ cdc.Target = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{keys: make(map[string]int), tags: make(map[string]int)}
}

// Delete records the keys.
func (r *Recorder) Delete(_ context.Context, keys ...string) error {
	return r.note("", "delete", keys)
}

// InvalidateTags records the tags.
func (r *Recorder) InvalidateTags(_ context.Context, tags ...string) error {
	return r.note("", "tags", tags)
}

// Flush records the flush.
func (r *Recorder) Flush(context.Context) error { return r.note("", "flush", nil) }

// Target returns a Target that records into r under namespace ns: its
// lines start with "ns: " and its keys and tags are counted as "ns/key".
func (r *Recorder) Target(ns string) cdc.Target { return view{r, ns} }

// FailWith makes every later call ask f first (with the line the call
// would record, without the namespace's prefix): when f returns an error,
// the call returns it and records nothing. f runs without the Recorder's
// lock. nil: no call fails.
func (r *Recorder) FailWith(f func(call string) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

// Calls returns the lines recorded, in call order.
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Count returns how many times key was deleted ("ns/key" for a Target's).
func (r *Recorder) Count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys[key]
}

// Has reports whether key was deleted at least once.
func (r *Recorder) Has(key string) bool { return r.Count(key) > 0 }

// Keys returns the keys deleted at least once, sorted.
func (r *Recorder) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.keys))
}

// Tags returns the tags invalidated at least once, sorted.
func (r *Recorder) Tags() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.tags))
}

// Deletes returns how many keys were deleted, counting repeats, and how
// many distinct keys.
func (r *Recorder) Deletes() (total, distinct int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.keys {
		total += n
	}
	return total, len(r.keys)
}

// Flushes returns how many flushes were recorded.
func (r *Recorder) Flushes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushes
}

// Failed returns how many calls failed (see FailWith).
func (r *Recorder) Failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Reset forgets every call and count (not FailWith's function).
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
	clear(r.keys)
	clear(r.tags)
	r.flushes, r.failed = 0, 0
}

// note records one call of namespace ns ("" for r itself).
func (r *Recorder) note(ns, op string, args []string) error {
	line := strings.TrimSpace(op + " " + strings.Join(args, " "))
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(line); err != nil {
			r.mu.Lock()
			r.failed++
			r.mu.Unlock()
			return err
		}
	}
	prefix := ""
	if ns != "" {
		line = ns + ": " + line
		prefix = ns + "/"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, line)
	switch op {
	case "delete":
		for _, k := range args {
			r.keys[prefix+k]++
		}
	case "tags":
		for _, t := range args {
			r.tags[prefix+t]++
		}
	case "flush":
		r.flushes++
	}
	return nil
}

// view is a Recorder's Target of one namespace.
type view struct {
	r  *Recorder
	ns string
}

func (v view) Delete(_ context.Context, keys ...string) error { return v.r.note(v.ns, "delete", keys) }
func (v view) InvalidateTags(_ context.Context, tags ...string) error {
	return v.r.note(v.ns, "tags", tags)
}
func (v view) Flush(context.Context) error { return v.r.note(v.ns, "flush", nil) }
