package tiered

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/internal/clock"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered/internal/hotlist"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Cache is a typed two-tier cache: decoded values in an in-process L1 in
// front of a shared L2, filled by a loader once per missing key however many
// callers ask. It is safe for concurrent use.
//
// Values returned by Get and GetMany may be shared with other callers and
// with L1: treat them as read-only.
type Cache[K comparable, V any] struct {
	cfg   Options[K, V] // validated, defaults applied
	stats stats.Recorder
	l1    l1.Store
	// syncL1: l1 applies a Set before it returns (l1.Synchronous), so
	// the write path neither waits for it nor reads back what it took.
	syncL1 bool
	remote *remote // nil without L2
	// schema and compressor identify the frames this cache writes (see
	// frame.go).
	schema     uint32
	compressor uint8
	// keySeed starts the hash that binds frames to keys (keyHash);
	// maxLife is the longest logical lifetime of a frame this cache
	// writes, the bound of clampExpiry.
	keySeed uint32
	maxLife time.Duration
	fresh   freshness
	gens    *generations
	flights loader.Group[string, *entry[V]]
	reads   readGroup // L2 reads shared by the readers that miss L1 at once
	waiters waiters   // loads waiting for other instances' leases
	// readToken is the lease token of this instance's reads that miss L1:
	// a read of a key that holds no value takes its lease with it
	// (l2.LeaseReader), for the load that follows, whichever of the
	// readers that share the read leads the load's flight; nil when reads
	// take no leases (no loader, no LeaseReader, leases off, or
	// write-behind in durable mode, whose queued values only Lease sees).
	// One token serves every key: one instance loads a key once at a time.
	readToken *l2.Token
	unsettled unsettled     // keys whose invalidation has not reached L2
	loadSlots chan struct{} // MaxLoads tokens; nil: no limit
	wb        *behind[K, V] // write-behind; nil: off
	// hot counts the most read keys (Options.HotKeys); nil: off.
	hot *hotlist.Sketch
	// obs is the consistency observer (Options.Observer); nil: off.
	obs *observer[K, V]
	// hitClock is the clock of L1 hits (see hitMilli): nil when
	// Options.Now was given.
	hitClock *clock.Coarse
	// l1off: L1 takes and serves nothing, because the bus's subscription
	// is not in place (before the first one, and while it is broken).
	l1off atomic.Bool
	// lastClear is when flushL1 last cleared L1 (unix nanoseconds of the
	// wall clock: a flood of flushes is bounded in real time).
	lastClear atomic.Int64

	// lifetime ends at Close; every load and background task runs under it.
	lifetime context.Context
	stop     context.CancelFunc
	closed   atomic.Bool

	busID       string // "" without a Bus
	unsubscribe func()
	bg          sync.WaitGroup // second passes of InvalidateTags, retries of unsettled keys
	// bgMu guards closing: background work (second passes, refreshes)
	// starts under it only while closing is false, so that none starts
	// after Close began to wait.
	bgMu    sync.Mutex
	closing bool

	// unpoll ends what Poll started, when the Recorder is a stats.Poller.
	unpoll func()
}

// hitClockResolution is how often the default clock of L1 hits is read
// while hits come in (see hitMilli).
const hitClockResolution = time.Millisecond

// hitMilli is the time, in unix milliseconds, for a read that found an
// entry in L1 and must judge it (a loaded value, for early refresh; or
// stale serving). With the default clock it is a reading taken at most a
// millisecond ago by a goroutine that reads the clock only while hits come
// in (clock.Coarse): a hit then loads a variable where reading the clock
// cost as much as the rest of the hit (143 ns against 76 ns, one
// goroutine, BenchmarkGet_L1Hit/tiercache-loaded). An injected clock is
// read as it is.
func (c *Cache[K, V]) hitMilli() int64 {
	if c.hitClock != nil {
		return c.hitClock.UnixMilli()
	}
	return c.cfg.Now().UnixMilli()
}

// New returns a cache configured by opts; see [Options] for the defaults.
func New[K comparable, V any](opts *Options[K, V]) (*Cache[K, V], error) {
	return newCache(opts, true)
}

// newCache is New; subscribe says whether the cache subscribes to its
// namespace on the Bus (an Invalidator only publishes).
func newCache[K comparable, V any](opts *Options[K, V], subscribe bool) (*Cache[K, V], error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: nil Options", ErrInvalidOptions)
	}
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	r, err := newRemote(&cfg)
	if err != nil {
		return nil, fmt.Errorf("tiered: %s: %w", cfg.Name, err)
	}
	if cfg.Tags != nil && (r == nil || r.tagger == nil) {
		return nil, fmt.Errorf("%w: Tags needs an L2 store that keeps tag indexes (l2.Tagger)", ErrInvalidOptions)
	}
	store := opts.L1
	if store == nil {
		st, err := l1.NewOtter(l1.Options{})
		if err != nil {
			return nil, fmt.Errorf("tiered: %s: %w", cfg.Name, err)
		}
		store = st
	}
	sy, syncL1 := store.(l1.Synchronous)
	lifetime, stop := context.WithCancel(context.Background())
	c := &Cache[K, V]{
		cfg:        cfg,
		stats:      cfg.Stats,
		l1:         store,
		syncL1:     syncL1 && sy.Synchronous(),
		remote:     r,
		schema:     schemaOf(&cfg),
		compressor: compressorID(cfg.Compressor),
		keySeed:    keySeed(cfg.Name),
		maxLife:    max(cfg.TTL, cfg.NotFoundTTL, cfg.TombstoneTTL),
		fresh:      newFreshness(&cfg),
		gens:       newGenerations(),
		lifetime:   lifetime,
		stop:       stop,
	}
	if cfg.MaxLoads > 0 {
		c.loadSlots = make(chan struct{}, cfg.MaxLoads)
	}
	if r != nil && r.reader != nil && c.canLoad() && (cfg.WriteBehind == nil || cfg.WriteBehind.Queue == nil) {
		token := l2.NewToken()
		c.readToken = &token
	}
	c.unsettled = unsettled{
		horizon: c.l2TTL(cfg.TTL) + cfg.LoadTimeout,
		limit:   cfg.MaxUnsettled,
		now:     cfg.Now,
		start: func() {
			c.bgMu.Lock()
			defer c.bgMu.Unlock()
			if !c.closing {
				c.bg.Add(1)
				go c.retryUnsettled()
			}
		},
	}
	if cfg.WriteBehind != nil && cfg.WriteBehind.Queue != nil && (r == nil || r.stager == nil) {
		stop()
		if opts.L1 == nil {
			store.Close()
		}
		return nil, fmt.Errorf("%w: WriteBehind.Queue (durable mode) needs an L2 store that keeps queued values (l2.Stager) and leases on", ErrInvalidOptions)
	}
	if cfg.Bus != nil && subscribe {
		c.busID = cfg.Bus.ID()
		c.l1off.Store(true) // until the first subscription is in place
		unsubscribe, err := cfg.Bus.Subscribe(cfg.Name, receiver[K, V]{c})
		if err != nil {
			stop()
			if opts.L1 == nil {
				store.Close()
			}
			return nil, fmt.Errorf("tiered: %s: subscribe: %w", cfg.Name, err)
		}
		c.unsubscribe = unsubscribe
	}
	if cfg.WriteBehind != nil && subscribe {
		c.wb = newBehind(c)
	}
	if cfg.HotKeys > 0 && subscribe {
		c.hot = newHotKeys(cfg.HotKeys)
		if r != nil {
			c.bg.Add(1)
			go c.saveHotKeysLoop() // ends in Close, after a last save
		}
	}
	if cfg.Observer != nil && subscribe {
		c.obs = &observer[K, V]{opts: *cfg.Observer, in: make(chan observation[K, V], cfg.Observer.Queue)}
		c.bg.Add(1)
		go c.runObserver() // ends in Close
	}
	if p, ok := c.stats.(stats.Poller); ok {
		c.unpoll = p.Poll(c.levels)
	}
	if opts.Now == nil {
		c.hitClock = clock.NewCoarse(cfg.Now, hitClockResolution)
	}
	return c, nil
}

// Name returns the cache's namespace.
func (c *Cache[K, V]) Name() string { return c.cfg.Name }

// Close ends the cache's subscription to the Bus, cancels running loads and
// pending second passes of InvalidateTags, makes a last attempt (of at most
// a second) to write the tombstones of unsettled keys and, with HotKeys,
// to save the list of hot keys (see SaveHotKeys), waits for all of them
// to return, and closes L1. Later calls of other methods return
// ErrClosed. Close is idempotent and returns nil.
//
// Close does not wait for a loader that ignores its context: such a load
// is abandoned at once (its callers get an error, and it is counted as
// stats.LoadAbandoned), and its goroutine ends whenever the loader
// returns. Close returns once the L2 calls in flight have: within
// L2Timeout for reads, and within the client's own timeouts for writes.
//
// Close the caches of a process before the Bus and the L2 client they use:
// their last messages and writes go through them.
func (c *Cache[K, V]) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.unpoll != nil {
		c.unpoll()
	}
	if c.wb != nil {
		c.wb.close() // writes what is queued, within DrainTimeout
	}
	if c.unsubscribe != nil {
		c.unsubscribe()
	}
	c.bgMu.Lock()
	c.closing = true
	c.bgMu.Unlock()
	c.stop()
	_ = c.flights.Wait(context.Background()) // cannot fail without a deadline
	c.bg.Wait()
	c.l1.Close()
	if c.hitClock != nil {
		c.hitClock.Close()
	}
	return nil
}
