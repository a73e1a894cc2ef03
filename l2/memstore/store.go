package memstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/internal/clock"
	"github.com/tiercache/tiercache/l2"
)

var _ l2.Store = (*Store)(nil)

// Store is an in-process [l2.Store]. Create it with [New]; it is safe for
// concurrent use.
//
// A Store is also an [l2.Namespacer]: its views share the entries, and key k
// of the view Namespace(ns) is key ns + ":" + k of the store, looked up
// without building that string.
type Store struct {
	*state
	prefix string // "" for the store itself, "ns:" for a view
}

// state is what a store shares with its views.
type state struct {
	now func() time.Time

	// closed, fault and delay are read on every operation without taking mu.
	closed atomic.Bool
	fault  atomic.Pointer[error]
	faults atomic.Pointer[func(op string) error] // see FailWhen
	delay  atomic.Int64                          // time.Duration

	mu   sync.RWMutex
	m    map[skey]entry       // nil once closed
	tags map[tagKey]*tagIndex // nil once closed; see tags.go
	// leases hold the lease of each key that has one (lease.go); expired
	// leases stay until the key's next lease or Revoke.
	leases map[skey]lease
	// staged holds write-behind's queued values, apart from the entries
	// (stage.go): nil once closed.
	staged map[skey]staged
}

// skey is a key split at its first ':' (hasNS) so that a view finds its
// keys without concatenating its namespace: "user:42" is {user, 42, true}
// from the store and from the view "user" alike; "abc" is {"", abc, false}.
type skey struct {
	ns, k string
	hasNS bool
}

// key returns the map key of the key k of s.
func (s *Store) key(k string) skey {
	if s.prefix == "" {
		if ns, rest, ok := strings.Cut(k, ":"); ok {
			return skey{ns, rest, true}
		}
		return skey{"", k, false}
	}
	if i := strings.IndexByte(s.prefix, ':'); i == len(s.prefix)-1 {
		return skey{s.prefix[:i], k, true} // the common case: no ':' in the namespace
	}
	ns, rest, _ := strings.Cut(s.prefix+k, ":")
	return skey{ns, rest, true}
}

var _ l2.Namespacer = (*Store)(nil)

// Namespace returns a view of s in which key k is key ns + ":" + k of s. The
// view shares s's entries, faults, delay and Close.
func (s *Store) Namespace(ns string) l2.Store {
	return &Store{state: s.state, prefix: s.prefix + ns + ":"}
}

// Abilities returns [l2.All]: a Store and each of its views implement
// every optional interface of l2 (see the package documentation).
func (s *Store) Abilities() l2.Ability { return l2.All }

type entry struct {
	value   []byte    // never nil, never shared with a caller
	expires time.Time // the zero Time: never (a queued value, see stage.go)
}

// New returns an empty Store. opts may be nil; New does not keep it.
func New(opts *Options) *Store {
	s := &Store{state: &state{
		now:    clock.NewMono().Now,
		m:      make(map[skey]entry),
		tags:   make(map[tagKey]*tagIndex),
		leases: make(map[skey]lease),
		staged: make(map[skey]staged),
	}}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	return s
}

// Get returns a copy of the value stored under key, or [l2.ErrMiss].
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.begin(ctx, "get"); err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.RLock()
	if s.m == nil {
		s.mu.RUnlock()
		return nil, fmt.Errorf("memstore: get: %w", l2.ErrClosed)
	}
	e, ok := s.m[s.key(key)]
	if !ok || e.expired(now) {
		s.mu.RUnlock()
		if ok {
			s.dropExpired(key, now)
		}
		return nil, l2.ErrMiss
	}
	v := clone(e.value)
	s.mu.RUnlock()
	return v, nil
}

// GetMany returns a copy of the value of each key, in the order of keys, with
// nil where a key holds none. Every slot is its own copy, duplicates included.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := s.begin(ctx, "getmany"); err != nil {
		return nil, err
	}
	vals := make([][]byte, len(keys))
	if len(keys) == 0 {
		return vals, nil
	}
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.m == nil {
		return nil, fmt.Errorf("memstore: getmany: %w", l2.ErrClosed)
	}
	for i, k := range keys {
		if e, ok := s.m[s.key(k)]; ok && !e.expired(now) {
			vals[i] = clone(e.value)
		}
	}
	return vals, nil
}

// Set stores a copy of value under key for ttl, which must be positive.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memstore: set: ttl must be positive, got %v", ttl)
	}
	if err := s.begin(ctx, "set"); err != nil {
		return err
	}
	e := entry{value: clone(value), expires: s.now().Add(ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return fmt.Errorf("memstore: set: %w", l2.ErrClosed)
	}
	s.m[s.key(key)] = e
	return nil
}

// SetMany stores a copy of every item. It checks every TTL first: when one
// is not positive it writes nothing.
func (s *Store) SetMany(ctx context.Context, items []l2.Item) error {
	for i := range items {
		if items[i].TTL <= 0 {
			return fmt.Errorf("memstore: setmany: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	if err := s.begin(ctx, "setmany"); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	now := s.now()
	entries := make([]entry, len(items))
	for i, it := range items {
		entries[i] = entry{value: clone(it.Value), expires: now.Add(it.TTL)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return fmt.Errorf("memstore: setmany: %w", l2.ErrClosed)
	}
	for i, it := range items {
		s.m[s.key(it.Key)] = entries[i]
	}
	return nil
}

// Delete removes the keys; absent keys are ignored.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if err := s.begin(ctx, "delete"); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return fmt.Errorf("memstore: delete: %w", l2.ErrClosed)
	}
	for _, k := range keys {
		delete(s.m, s.key(k))
	}
	return nil
}

// Len returns the number of keys that hold a value now (expired entries not
// yet dropped are not counted). It returns 0 after Close.
func (s *Store) Len() int {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, e := range s.m {
		if !e.expired(now) {
			n++
		}
	}
	return n
}

// Close drops every entry, tag index, lease and queued value. Later
// operations return [l2.ErrClosed]. Close is idempotent and always returns
// nil.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.mu.Lock()
	s.m, s.tags, s.leases, s.staged = nil, nil, nil, nil
	s.mu.Unlock()
	return nil
}

// FailWith makes every later operation fail with err (wrapped with the
// store's name and the operation, so errors.Is(got, err) holds) until
// FailWith(nil) restores normal service. Argument checks (a TTL that is not
// positive) and [l2.ErrClosed] take precedence. It models an unavailable
// tier in tests of the code above it.
func (s *Store) FailWith(err error) {
	if err == nil {
		s.fault.Store(nil)
		return
	}
	s.fault.Store(&err)
}

// FailWhen makes every later operation call f with its name ("get",
// "getmany", "set", "setmany", "delete", "setif", "setmanyif", "lease",
// "setleased", "release", "revoke", "getlease", "tag", "poptagged",
// "deleteprefix", "stage", "claim", "unstage") and fail with the error f returns, unless
// it is nil (wrapped as FailWith wraps it). FailWhen(nil) removes the
// hook. f runs after a fault set with [Store.FailWith], on the operation's
// goroutine, and must be safe for concurrent use. It models a tier that
// fails some operations only, in tests of the code above it.
func (s *Store) FailWhen(f func(op string) error) {
	if f == nil {
		s.faults.Store(nil)
		return
	}
	s.faults.Store(&f)
}

// SetDelay makes every later operation wait d before it runs, as a slow
// network would; d <= 0 removes the delay. The wait ends early when the
// operation's ctx is done, and the operation then returns an error wrapping
// ctx.Err() without touching the store. The delay comes before a fault set
// with [Store.FailWith], which models a tier that fails slowly.
func (s *Store) SetDelay(d time.Duration) {
	s.delay.Store(int64(max(d, 0)))
}

// begin runs the checks shared by every operation: Close, the context, the
// injected delay and the injected fault. The operation checks Close again
// under its lock.
func (s *Store) begin(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("memstore: %s: %w", op, l2.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %s: %w", op, err)
	}
	if d := time.Duration(s.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("memstore: %s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
	if p := s.fault.Load(); p != nil {
		return fmt.Errorf("memstore: %s: %w", op, *p)
	}
	if f := s.faults.Load(); f != nil {
		if err := (*f)(op); err != nil {
			return fmt.Errorf("memstore: %s: %w", op, err)
		}
	}
	return nil
}

// dropExpired deletes key if it is still expired at now: another goroutine
// may have written it since the caller released its read lock.
func (s *Store) dropExpired(key string, now time.Time) {
	k := s.key(key)
	s.mu.Lock()
	if e, ok := s.m[k]; ok && e.expired(now) {
		delete(s.m, k)
	}
	s.mu.Unlock()
}

func (e entry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// clone copies b into a new slice that is never nil, so an empty value reads
// back as a hit and not as a GetMany miss.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
