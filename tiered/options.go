package tiered

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/tiercache/tiercache/codec"
	"github.com/tiercache/tiercache/internal/clock"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Defaults of [Options].
const (
	// DefaultTTL is how long a value lives in L2 (and at most in L1).
	DefaultTTL = time.Hour
	// DefaultL1TTL bounds how long an instance may serve a value from its
	// own memory without looking at L2: the staleness bound when an
	// invalidation is lost.
	DefaultL1TTL = time.Minute
	// DefaultLoadTimeout bounds every loader call.
	DefaultLoadTimeout = 10 * time.Second
	// DefaultL2Cooldown is how long reads skip L2 after it failed.
	DefaultL2Cooldown = time.Second
	// DefaultTombstoneTTL is how long a deleted key keeps its tombstone in
	// L2, at least: see Options.TombstoneTTL.
	DefaultTombstoneTTL = 30 * time.Second
	// DefaultCompressAbove is the payload size (bytes) above which a
	// Compressor, when set, is applied.
	DefaultCompressAbove = 1024
	// DefaultBeta is the early-refresh factor of XFetch: see Options.Beta.
	DefaultBeta = 1.0
	// DefaultLeaseTTL is how long an instance's lease on a missing key
	// lives, at most: see Options.LeaseTTL.
	DefaultLeaseTTL = 2 * time.Second
	// DefaultMaxValueSize is the largest encoded value (bytes, before
	// compression) the cache stores: see Options.MaxValueSize.
	DefaultMaxValueSize = 1 << 20
	// MaxKeySize is the longest key (bytes, in the form Options.Key gives)
	// the cache accepts; longer keys are refused with ErrInvalidKey.
	MaxKeySize = 1024
	// DefaultMaxUnsettled bounds how many keys whose invalidation did not
	// reach L2 an instance retries at once: see Options.MaxUnsettled.
	DefaultMaxUnsettled = 100_000
	// DefaultMaxLoads bounds how many loads an instance runs at once: see
	// Options.MaxLoads.
	DefaultMaxLoads = 1000
	// DefaultMaxL2CallsPerCPU times runtime.GOMAXPROCS is the default of
	// Options.MaxL2Calls: go-redis's default PoolSize.
	DefaultMaxL2CallsPerCPU = 10
	// DefaultFailSafeThrottle is how long reads of a key keep serving the
	// stale value that stood in for a failed load before one of them asks
	// the loader again: see Options.FailSafeThrottle.
	DefaultFailSafeThrottle = 30 * time.Second
)

// Options configures a [Cache]. Only Name is required; the zero value of
// every other field is valid and documented. New does not modify or keep
// the Options.
type Options[K comparable, V any] struct {
	// Name is the cache's namespace: L2 keys are "<Name>:<key>" (the L2
	// store adds its own prefix, "{tc:<Name>:<key>}" for Redis). It must be
	// 1-64 characters from [A-Za-z0-9_.-], unique per kind of value.
	Name string

	// Key turns a key into the string used in both tiers. It must be
	// injective (two keys, two strings). Default: the key itself for string
	// kinds, its decimal form for integer kinds; other key types must set
	// it.
	Key func(K) string
	// ParseKey turns a key's string form (Key's) back into the key, for
	// the hot keys read back from L2 (HotKeys) and for write-behind's
	// flusher (WriteBehindOptions.ParseKey). It must invert Key. Default:
	// the inverse of the default Key, for string and integer kinds; with
	// another Key or key type, HotKeys needs it.
	ParseKey func(string) (K, error)

	// Codec encodes values for L2. Default codec.Msgpack[V].
	Codec codec.Codec[V]
	// SchemaVersion names the version of V's encoded form. Every value in
	// L2 carries a fingerprint of the codec and of V's schema, and a cache
	// treats a value of another fingerprint as a miss (stats.L2Foreign):
	// it loads the key and serves the result without writing it over the
	// other version's value. Default "": the fingerprint is derived from
	// V's type (its fields, their names, types and tags, recursively), so
	// that a changed struct is a new schema. Set it to decide yourself:
	// change it when V's encoding changes, keep it across changes the codec
	// reads compatibly. See the README on rolling deploys.
	SchemaVersion string

	// Compressor, when set, compresses payloads larger than CompressAbove
	// bytes (when that makes them smaller). Values are readable whatever
	// this setting, as long as a reader that meets a compressed value has
	// a Compressor. Default: no compression.
	Compressor codec.Compressor
	// CompressAbove: see Compressor. Default DefaultCompressAbove.
	CompressAbove int

	// L1 is the in-process tier. Default: an l1.Otter with its default
	// Options (64 MiB), created by New and closed by Close; l1.Ristretto
	// is the other choice (docs/architecture.md compares them). A store given
	// here belongs to this cache alone (keys carry no namespace in L1) and
	// is closed by Close too.
	L1 l1.Store
	// L1TTL bounds how long an entry stays in L1. An entry never stays past
	// its own expiry (plus the stale-serving windows) either, so an L1TTL
	// longer than TTL acts as TTL. Default DefaultL1TTL.
	L1TTL time.Duration
	// Cost returns an entry's cost in L1. Default: the size in bytes of the
	// encoded value plus its key, plus a fixed overhead.
	Cost func(V) int64
	// MaxValueSize is the largest value, in bytes as the codec encodes it
	// (before compression), that the cache stores. A larger value that a
	// loader returns is served but cached in neither tier; Set of one
	// deletes the key instead and returns ErrValueTooLarge. A larger value
	// found in L2 (written by a cache with a larger limit, or by someone
	// else) is not decompressed nor decoded: it is a miss, left in L2, and
	// costs its bytes on the wire once. All three count
	// stats.ValueTooLarge. Default DefaultMaxValueSize (1 MiB); negative:
	// no limit.
	MaxValueSize int

	// L2 is the shared tier. Nil: no L2, the cache is L1 only.
	L2 l2.Store
	// TTL is how long a value lives in L2. Default DefaultTTL.
	TTL time.Duration
	// Jitter takes a random fraction, up to Jitter, off every TTL so that
	// keys written together do not expire together. 0 (default) to 1.
	Jitter float64
	// NotFoundTTL is how long a loader's ErrNotFound answer is cached (in
	// both tiers). Default 0: not cached.
	NotFoundTTL time.Duration
	// L2Timeout bounds each L2 call made by a read. Default 0: only the
	// caller's context and the client's own timeouts apply (go-redis reads
	// time out after 3 s by default). A deadline costs allocations on every
	// L2 read, hence the default.
	L2Timeout time.Duration
	// L2Cooldown is how long reads skip L2 after an L2 error (then one
	// read tries it again). Default DefaultL2Cooldown.
	L2Cooldown time.Duration
	// TombstoneTTL is how long Delete leaves a tombstone in L2 in place of
	// a deleted value, when the L2 store supports conditional writes
	// (l2.Conditional; redisstore, rueidisstore and memstore do). A load
	// that read L2 before the delete, and so may hold the old value, writes
	// its result only if L2 still holds what it read: the tombstone makes
	// that fail.
	// It must outlast the longest load of every instance that shares the
	// L2. Default: DefaultTombstoneTTL or twice LoadTimeout, whichever is
	// longer.
	TombstoneTTL time.Duration

	// Bus carries invalidations between the instances that share L2. Every
	// Set, SetMany, Delete and invalidation is published on it once L2 and
	// this instance's L1 have changed, and messages from other instances
	// drop their keys from this L1. L1 is used only while the cache's
	// subscription is in place: from New until the first subscription, and
	// from the first sign that it broke until it is back, L1 serves and
	// takes nothing (reads go to L2), since no invalidation could reach
	// it. Nil: no cross-instance invalidation (another instance's L1 keeps
	// a replaced value for up to L1TTL). The cache subscribes in New and
	// unsubscribes in Close; it does not close the Bus, which caches of
	// other namespaces may share.
	Bus invalidate.Bus
	// MaxUnsettled bounds how many keys whose write or delete failed in L2
	// this instance keeps retrying at once (see the Writes section of the
	// package documentation). Beyond it a failed write's keys are not
	// retried and its error wraps ErrUnsettled. Default
	// DefaultMaxUnsettled.
	MaxUnsettled int
	// MaxLoads bounds how many loads run at once in this instance. A load
	// is everything a miss costs: its second look at L2, its lease, the
	// loader call (one BatchLoader call counts once) and the store of its
	// value. A load that finds every slot taken waits for one, for at most
	// LoadTimeout, touching nothing meanwhile (its callers may leave
	// earlier, with their contexts); one that gets none fails with
	// ErrOverloaded, and an early refresh is skipped instead (both count
	// stats.Overloaded). A load's LoadTimeout starts once it has its slot,
	// so a load that starts can finish and store its value. Under a burst
	// of distinct misses the loader then sees at most MaxLoads calls at
	// once. Default DefaultMaxLoads; negative: no limit.
	MaxLoads int
	// MaxL2Calls bounds the L2 calls in flight from this cache. The calls
	// of loads and writes (leases, stores, Set, Delete) go before the first
	// reads of Get and GetMany when all are taken; a read waits within its
	// context and L2Timeout, and one that gets no slot in time goes on
	// without L2 (stats.L2Skipped and stats.Overloaded) without opening
	// the breaker. Keep it at most what the L2 client serves without
	// queueing (its connection pool, per node): then calls queue here, in
	// order of priority, and never time out in the client's pool. The
	// bound is the cache's own: caches that share a client should split
	// it between them. Default: what the store says it serves
	// (l2.Capacity; a redisstore.Store answers its client's PoolSize, or
	// more with auto-pipelining), else DefaultMaxL2CallsPerCPU *
	// runtime.GOMAXPROCS(0), go-redis's default PoolSize; negative: no
	// limit.
	MaxL2Calls int
	// Tags returns the tags of a value (nil for none). Every value stored
	// by Set, SetMany or a load is indexed under its tags in L2, so that
	// InvalidateTags finds it; SetTagged adds tags of its own. Tags need an
	// L2 store that keeps tag indexes (l2.Tagger; redisstore, rueidisstore
	// and memstore do). Default: no tags.
	Tags func(K, V) []string
	// HotKeys is how many of the most read keys the cache records, so that
	// the next run can warm them (Cache.HotKeys, Cache.WarmHot). It samples
	// one in DefaultHotKeysSample keys read by Get and GetMany (Warm's
	// reads are not recorded), counts them in at most 4 × HotKeys entries,
	// and saves the list to L2 every DefaultHotKeysSaveInterval and on
	// Close (see SaveHotKeys). It needs ParseKey (defaulted for string and
	// integer keys with the default Key). Default 0: off, and reads pay one
	// branch for it.
	HotKeys int

	// Loader loads a key that is in neither tier (read-through). Nil: Get
	// loads through BatchLoader (one key per call), or, without one
	// either, returns ErrMiss on a miss (cache-aside).
	Loader loader.Loader[K, V]
	// BatchLoader loads the misses of GetMany in one call. Nil: GetMany
	// loads them one by one through Loader.
	BatchLoader loader.BatchLoader[K, V]
	// Writer writes to the source of truth for WriteThrough,
	// WriteThroughMany and DeleteThrough, one key per call. Nil: they use
	// BatchWriter, or, without one either, return an error wrapping
	// errors.ErrUnsupported.
	Writer Writer[K, V]
	// BatchWriter writes the changes of WriteThroughMany and of a
	// DeleteThrough of several keys in one call. Nil: they call Writer once
	// per key.
	BatchWriter BatchWriter[K, V]

	// WriteBehind turns write-behind on (WriteBehind, DeleteBehind,
	// FlushBehind): see WriteBehindOptions. It needs Writer or
	// BatchWriter. Nil: off.
	WriteBehind *WriteBehindOptions[K, V]

	// LoadTimeout bounds every loader call, and how long a caller waits
	// for a load (its own, or another instance's under a lease). Loads run
	// detached from the caller's cancellation (other callers may wait on
	// them) but not from its values. A loader that ignores its context
	// past LoadTimeout is abandoned: its callers get an error wrapping
	// context.DeadlineExceeded, it is counted (stats.LoadAbandoned) and
	// logged, and whatever it returns later is dropped. Default
	// DefaultLoadTimeout.
	LoadTimeout time.Duration

	// Beta tunes early refresh (XFetch, Vattani et al., VLDB 2015). A read
	// that finds a value refreshes it in the background, once per key,
	// before it expires, with a probability that grows as the expiry
	// nears: when now - delta*Beta*ln(rand) >= expiry, where delta is how
	// long the value's last load took. The caller gets the current value
	// at once. Larger values refresh earlier; values written by Set have no
	// load time and are not refreshed early. With early refresh on, L2
	// keeps every value LeaseTTL past its expiry (readers treat it as
	// expired), so that a refresh that ends after the expiry can still
	// replace it. Default DefaultBeta (1); negative turns early refresh
	// off.
	Beta float64
	// StaleWhileRevalidate lets a read serve a value up to this long past
	// its expiry while one background load refreshes it. Values then live
	// this much longer in L2 (and up to L1TTL in L1). Default 0: an
	// expired value is never served.
	StaleWhileRevalidate time.Duration
	// StaleIfError lets a read serve a value up to this long past its
	// expiry when the loader fails (or times out) on it; the caller gets
	// the value and no error. Values then live this much longer in L2.
	// Default 0: the loader's error is returned.
	//
	// A read whose own context reaches its deadline while it waits for a
	// load gets such a value too, instead of the context's error (one
	// whose context is cancelled gets the error: its caller gave up).
	StaleIfError time.Duration
	// LoadSoftTimeout is how long a read waits for a load when it holds a
	// value that StaleIfError lets it serve in the load's place: past it,
	// the read returns that value (stats.SoftTimeout, stats.StaleServed)
	// and the load goes on in the background, bounded by LoadTimeout (the
	// hard timeout), then stores what it loaded in both tiers as any load
	// does. Reads without such a value wait for the load as before. It
	// must be shorter than LoadTimeout. Default 0: reads wait for the load
	// up to LoadTimeout.
	LoadSoftTimeout time.Duration
	// FailSafeThrottle is how long a value that stood in for a load
	// (StaleIfError: the load failed, or outlasted LoadSoftTimeout or the
	// read's deadline) keeps being served in this instance without a call
	// of the loader (stats.Throttled), so that a source that is down gets
	// one call per key per period from an instance, not one per read. The
	// value is held in L1: a key that L1 does not hold is not throttled.
	// It ends with the value's StaleIfError window, and when anything
	// replaces the value (a write, an invalidation, a load that
	// succeeded). Default DefaultFailSafeThrottle; negative: off (every
	// read past the expiry calls the loader, as before).
	FailSafeThrottle time.Duration
	// Observer turns on the consistency observer: a sample of Get's L1
	// hits checked in the background against L2 (and the source, when
	// asked), disagreements counted (stats.Disagreed) and logged; see
	// ObserverOptions. It needs an L2, or ObserverOptions.Source and a
	// Loader. Nil: off, and hits pay one branch for it.
	Observer *ObserverOptions
	// LeaseTTL is how long a lease on a missing key lives in L2, when the
	// L2 store keeps leases (l2.Leaser and l2.Conditional; redisstore and
	// memstore do). Of the instances that miss a key at once, the one
	// that gets its lease loads it; the others poll L2 until its value is
	// there, or until the lease ends (its holder died or gave up), then
	// try for the lease themselves. A Delete ends the lease, and a load
	// stores its value only if nothing was written since it looked. Make
	// it longer than most loads: another instance may load a key whose
	// lease outlived its TTL a second time (the first value to arrive
	// wins). Default DefaultLeaseTTL; negative turns leases off.
	LeaseTTL time.Duration

	// Stats receives every hit, miss, load, L2 call and bus event. A
	// Recorder shared by several caches that implements stats.PerCache is
	// asked once, in New, for the Recorder of this cache's Name. Default:
	// none.
	Stats stats.Recorder
	// Tracer, when set, is told about every call of the cache (Get,
	// GetMany, Set, SetMany, Delete, the write-through and write-behind
	// calls) and, within them, about loads, waits for another instance's
	// lease and background refreshes: see stats.Tracer, and the
	// OpenTelemetry adapter tiered/stats/otelstats. Default: none, at no
	// cost.
	Tracer stats.Tracer
	// Logger receives L2 outages and recoveries, broken and restored
	// subscriptions, failed background refreshes and undecodable values.
	// Default: discards.
	Logger *slog.Logger
	// Now is the clock. Default: a wall clock derived from the monotonic
	// clock and re-read once a second (internal/clock.Mono), which costs a
	// third less than time.Now; a step of the system clock reaches it
	// within a second. With the default, a read that judges an entry it
	// found in L1 (early refresh, stale serving) takes the time from a
	// goroutine that reads this clock every millisecond while such reads
	// come in, and sleeps when they stop: the judgement may be late by a
	// millisecond, or more on a saturated machine. A clock given here is
	// read on every such hit.
	Now func() time.Time
	// Rand returns a uniform float in [0, 1), for Jitter, early refresh
	// and the sampling of HotKeys. Default math/rand/v2.Float64.
	Rand func() float64
}

// config returns a copy of o with every default applied, or the first
// problem found.
func (o *Options[K, V]) config() (Options[K, V], error) {
	c := *o
	if err := validName(c.Name); err != nil {
		return c, err
	}
	for _, d := range []struct {
		name     string
		v        time.Duration
		negative bool // a negative value has a meaning
	}{
		{"TTL", c.TTL, false}, {"L1TTL", c.L1TTL, false}, {"NotFoundTTL", c.NotFoundTTL, false},
		{"L2Timeout", c.L2Timeout, false}, {"L2Cooldown", c.L2Cooldown, false}, {"LoadTimeout", c.LoadTimeout, false},
		{"TombstoneTTL", c.TombstoneTTL, false},
		{"StaleWhileRevalidate", c.StaleWhileRevalidate, false}, {"StaleIfError", c.StaleIfError, false},
		{"LoadSoftTimeout", c.LoadSoftTimeout, false}, {"FailSafeThrottle", c.FailSafeThrottle, true},
		{"LeaseTTL", c.LeaseTTL, true},
	} {
		if err := checkDuration(d.name, d.v, d.negative); err != nil {
			return c, err
		}
	}
	if c.MaxUnsettled < 0 {
		return c, fmt.Errorf("%w: MaxUnsettled must not be negative, got %d", ErrInvalidOptions, c.MaxUnsettled)
	}
	if c.Jitter < 0 || c.Jitter > 1 || c.Jitter != c.Jitter {
		return c, fmt.Errorf("%w: Jitter must be within [0, 1], got %v", ErrInvalidOptions, c.Jitter)
	}
	if c.Beta != c.Beta || math.IsInf(c.Beta, 0) {
		return c, fmt.Errorf("%w: Beta must be a finite number, got %v", ErrInvalidOptions, c.Beta)
	}
	if c.CompressAbove < 0 {
		return c, fmt.Errorf("%w: CompressAbove must not be negative", ErrInvalidOptions)
	}
	if c.HotKeys < 0 {
		return c, fmt.Errorf("%w: HotKeys must not be negative, got %d", ErrInvalidOptions, c.HotKeys)
	}
	customKey := c.Key != nil
	if c.Key == nil {
		k, ok := defaultKey[K]()
		if !ok {
			var zero K
			return c, fmt.Errorf("%w: Key is required for key type %T", ErrInvalidOptions, zero)
		}
		c.Key = k
	}
	if c.ParseKey == nil && !customKey {
		c.ParseKey, _ = defaultParseKey[K]()
	}
	if c.HotKeys > 0 && c.ParseKey == nil {
		var zero K
		return c, fmt.Errorf("%w: HotKeys needs ParseKey with a custom Key or key type %T", ErrInvalidOptions, zero)
	}
	if c.Codec == nil {
		c.Codec = codec.Msgpack[V]{}
	}
	c.CompressAbove = cmp.Or(c.CompressAbove, DefaultCompressAbove)
	c.L1TTL = cmp.Or(c.L1TTL, DefaultL1TTL)
	c.TTL = cmp.Or(c.TTL, DefaultTTL)
	c.L2Cooldown = cmp.Or(c.L2Cooldown, DefaultL2Cooldown)
	c.LoadTimeout = cmp.Or(c.LoadTimeout, DefaultLoadTimeout)
	if c.LoadSoftTimeout >= c.LoadTimeout {
		return c, fmt.Errorf("%w: LoadSoftTimeout (%v) must be shorter than LoadTimeout (%v)",
			ErrInvalidOptions, c.LoadSoftTimeout, c.LoadTimeout)
	}
	c.FailSafeThrottle = cmp.Or(c.FailSafeThrottle, DefaultFailSafeThrottle)
	c.Beta = cmp.Or(c.Beta, DefaultBeta)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultLeaseTTL)
	c.MaxValueSize = cmp.Or(c.MaxValueSize, DefaultMaxValueSize)
	c.MaxUnsettled = cmp.Or(c.MaxUnsettled, DefaultMaxUnsettled)
	c.MaxLoads = cmp.Or(c.MaxLoads, DefaultMaxLoads)
	if c.MaxL2Calls == 0 {
		c.MaxL2Calls = DefaultMaxL2CallsPerCPU * runtime.GOMAXPROCS(0)
		if cp, ok := c.L2.(l2.Capacity); ok && cp.Capacity() > 0 {
			c.MaxL2Calls = cp.Capacity()
		}
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = max(DefaultTombstoneTTL, 2*c.LoadTimeout)
	} else if c.TombstoneTTL < c.LoadTimeout {
		return c, fmt.Errorf("%w: TombstoneTTL (%v) must not be shorter than LoadTimeout (%v)",
			ErrInvalidOptions, c.TombstoneTTL, c.LoadTimeout)
	}
	if c.Observer != nil {
		ob, err := c.Observer.config()
		if err != nil {
			return c, err
		}
		if c.L2 == nil && (!ob.Source || c.Loader == nil) {
			return c, fmt.Errorf("%w: Observer needs an L2, or Source and a Loader, to check L1 against", ErrInvalidOptions)
		}
		c.Observer = &ob
	}
	if c.WriteBehind != nil {
		wb, err := c.WriteBehind.config(&c, customKey)
		if err != nil {
			return c, err
		}
		c.WriteBehind = &wb
	}
	c.Stats = stats.ForCache(c.Stats, c.Name)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = clock.NewMono().Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c, nil
}

// checkDuration refuses a negative d (unless negative is allowed) and a
// positive d under a millisecond: a duration is a time.Duration in
// nanoseconds, and "TTL: 10" means 10 ns, which no cache wants (it was
// meant as 10 * time.Second).
func checkDuration(name string, d time.Duration, negative bool) error {
	switch {
	case d < 0 && !negative:
		return fmt.Errorf("%w: %s must not be negative, got %v", ErrInvalidOptions, name, d)
	case d > 0 && d < time.Millisecond:
		return fmt.Errorf("%w: %s is %v, under a millisecond: durations are time.Duration values in nanoseconds (write %d * time.Second, not %d)",
			ErrInvalidOptions, name, d, int64(d), int64(d))
	}
	return nil
}

func validName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("%w: Name must be 1-64 characters, got %q", ErrInvalidOptions, name)
	}
	for _, r := range name {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_', r == '.', r == '-':
		default:
			return fmt.Errorf("%w: Name %q has %q; use [A-Za-z0-9_.-]", ErrInvalidOptions, name, r)
		}
	}
	return nil
}
