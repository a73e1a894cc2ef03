package promstats

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiercache/tiercache/tiered/stats"
)

// ErrInvalidOptions is wrapped by the errors of New for a missing
// Registerer or bad buckets.
var ErrInvalidOptions = errors.New("promstats: invalid options")

// Recorder exports the events of the caches that record through it as
// Prometheus metrics. Pass it as tiered.Options.Stats of every cache (and
// as cdc.Options.Stats): each cache asks it once for the recorder of its
// name, which labels every metric with cache="<name>". It is a
// prometheus.Collector, registered by New.
//
// Counters are kept in the recorder (striped atomic counters, so that the
// cores of a busy service do not fight over one cache line) and read at
// each scrape; histograms and gauges are client_golang's. The levels of a
// cache (what its L1 holds, whether L2 is skipped) are read from the cache
// at each scrape.
type Recorder struct {
	hists  map[*family]*prometheus.HistogramVec
	gauges map[*family]*prometheus.GaugeVec
	descs  map[*family]*prometheus.Desc // counter and level families

	mu     sync.Mutex
	caches map[string]*cacheRecorder
	// none records the events recorded on the Recorder itself, not through
	// a cache: cache="". It is made on first use, so that a Recorder used
	// only by caches sends no series of cache="".
	noneOnce sync.Once
	none     *cacheRecorder
}

var (
	_ stats.Recorder       = (*Recorder)(nil)
	_ stats.PerCache       = (*Recorder)(nil)
	_ prometheus.Collector = (*Recorder)(nil)
)

// New returns a Recorder registered on opts.Registerer.
func New(opts *Options) (*Recorder, error) {
	if opts == nil || opts.Registerer == nil {
		return nil, fmt.Errorf("%w: a Registerer is required", ErrInvalidOptions)
	}
	buckets := opts.Buckets
	if len(buckets) == 0 {
		buckets = DefaultBuckets
	}
	for i := 1; i < len(buckets); i++ {
		if !(buckets[i] > buckets[i-1]) {
			return nil, fmt.Errorf("%w: Buckets must increase", ErrInvalidOptions)
		}
	}
	r := &Recorder{
		hists:  map[*family]*prometheus.HistogramVec{},
		gauges: map[*family]*prometheus.GaugeVec{},
		descs:  map[*family]*prometheus.Desc{},
		caches: map[string]*cacheRecorder{},
	}
	for _, rt := range histRoutes {
		if r.hists[rt.fam] == nil {
			r.hists[rt.fam] = prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: rt.fam.name, Help: rt.fam.help, Buckets: slices.Clone(buckets),
			}, rt.fam.labelNames())
		}
	}
	r.hists[famL2Duration] = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: famL2Duration.name, Help: famL2Duration.help, Buckets: slices.Clone(buckets),
	}, famL2Duration.labelNames())
	for _, g := range gaugeRoutes {
		r.gauges[g.fam] = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: g.fam.name, Help: g.fam.help,
		}, g.fam.labelNames())
	}
	for _, rt := range counterRoutes {
		r.describe(rt.fam)
	}
	for _, f := range levelFamilies {
		r.describe(f)
	}
	r.describe(famL2Calls)
	if err := opts.Registerer.Register(r); err != nil {
		return nil, fmt.Errorf("promstats: register: %w", err)
	}
	return r, nil
}

func (r *Recorder) describe(f *family) {
	if r.descs[f] == nil {
		r.descs[f] = prometheus.NewDesc(f.name, f.help, f.labelNames(), nil)
	}
}

// labelNames returns "cache" and the family's own labels.
func (f *family) labelNames() []string { return append([]string{"cache"}, f.labels...) }

// ForCache returns the recorder of the cache called name: every cache of
// that name (in this process) records through the same one.
func (r *Recorder) ForCache(name string) stats.Recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.caches[name]
	if c == nil {
		c = r.newCache(name)
		r.caches[name] = c
	}
	return c
}

// Add counts n occurrences of ev under cache="" (events recorded by a
// cache go through the recorder ForCache returned it).
func (r *Recorder) Add(ev stats.Event, n int) { r.unnamed().Add(ev, n) }

// Observe records ev under cache="".
func (r *Recorder) Observe(ev stats.Event, d time.Duration) { r.unnamed().Observe(ev, d) }

// ObserveL2 records an L2 call under cache="".
func (r *Recorder) ObserveL2(op stats.Op, outcome stats.Outcome, d time.Duration) {
	r.unnamed().ObserveL2(op, outcome, d)
}

// unnamed returns the recorder of cache="".
func (r *Recorder) unnamed() *cacheRecorder {
	r.noneOnce.Do(func() {
		c := r.newCache("")
		r.mu.Lock()
		r.none = c
		r.mu.Unlock()
	})
	return r.none
}

// stripes is how many copies of its counters a cache keeps: a goroutine
// adds to one copy, chosen by where its stack lies, and a scrape sums
// them. A counter shared by every core (L1 hits) is a cache line that
// each Add takes from the core that wrote it last; with a copy per
// goroutine, two goroutines running at once share a line once in stripes.
// Picking a copy at random per Add does not help: every core still
// writes every line.
const stripes = 8

// stripeGap is the room, in counters, between two copies: 128 bytes, so
// that neither a cache line nor the pair the CPU fetches together holds
// counters of two copies.
const stripeGap = 16

// stripeOf returns the copy of the counters that the calling goroutine
// adds to: goroutine stacks are at least 8 KiB apart, so the address of
// a local variable, in units of 8 KiB, tells goroutines apart at no cost
// (a goroutine whose stack moves to grow changes copies, which is fine).
func stripeOf() int {
	var here byte
	return int(uintptr(unsafe.Pointer(&here))>>13) % stripes
}

// cacheRecorder is the stats.Recorder of one cache name.
type cacheRecorder struct {
	name   string
	counts []atomic.Int64 // stripes copies of one counter per event, stride apart
	stride int
	obs    []prometheus.Observer // by event: histograms
	gauges []gaugeSink           // by event
	calls  [][]atomic.Int64      // by op, outcome
	l2obs  []prometheus.Observer // by op

	mu      sync.Mutex
	pollers map[*poller]struct{}
}

type gaugeSink struct {
	g     prometheus.Gauge
	scale float64
}

type poller struct{ levels func() stats.Levels }

var (
	_ stats.Recorder = (*cacheRecorder)(nil)
	_ stats.Gauger   = (*cacheRecorder)(nil)
	_ stats.Poller   = (*cacheRecorder)(nil)
)

func (r *Recorder) newCache(name string) *cacheRecorder {
	events, ops := len(stats.Events()), len(stats.Ops())
	c := &cacheRecorder{
		name:    name,
		counts:  make([]atomic.Int64, stripes*(events+stripeGap)),
		stride:  events + stripeGap,
		obs:     make([]prometheus.Observer, events),
		gauges:  make([]gaugeSink, events),
		calls:   make([][]atomic.Int64, ops),
		l2obs:   make([]prometheus.Observer, ops),
		pollers: map[*poller]struct{}{},
	}
	for ev, rt := range histRoutes {
		c.obs[ev] = r.hists[rt.fam].WithLabelValues(rt.labelValues(name)...)
	}
	for ev, g := range gaugeRoutes {
		c.gauges[ev] = gaugeSink{r.gauges[g.fam].WithLabelValues(g.labelValues(name)...), g.scale}
	}
	for _, op := range stats.Ops() {
		c.calls[op] = make([]atomic.Int64, numOutcomes)
		c.l2obs[op] = r.hists[famL2Duration].WithLabelValues(name, op.String())
	}
	return c
}

// numOutcomes is how many stats.Outcome values this version knows.
const numOutcomes = int(stats.Canceled) + 1

func (rt route) labelValues(cache string) []string { return append([]string{cache}, rt.values...) }

// Add counts n occurrences of ev.
func (c *cacheRecorder) Add(ev stats.Event, n int) {
	if int(ev) < c.stride-stripeGap {
		c.counts[stripeOf()*c.stride+int(ev)].Add(int64(n))
	}
}

// Observe records one occurrence of ev that took d: in its histogram, or,
// for an event without one, in its counter.
func (c *cacheRecorder) Observe(ev stats.Event, d time.Duration) {
	if int(ev) >= len(c.obs) {
		return
	}
	if o := c.obs[ev]; o != nil {
		o.Observe(d.Seconds())
		return
	}
	c.Add(ev, 1)
}

// ObserveL2 records one call of L2.
func (c *cacheRecorder) ObserveL2(op stats.Op, outcome stats.Outcome, d time.Duration) {
	if int(op) < len(c.calls) && int(outcome) < numOutcomes {
		c.calls[op][outcome].Add(1)
		c.l2obs[op].Observe(d.Seconds())
	}
}

// Gauge sets the gauge of ev.
func (c *cacheRecorder) Gauge(ev stats.Event, value int64) {
	if int(ev) < len(c.gauges) {
		if s := c.gauges[ev]; s.g != nil {
			s.g.Set(float64(value) * s.scale)
		}
	}
}

// Poll reads levels at each scrape, until stop is called. Several caches
// of one name add their levels up.
func (c *cacheRecorder) Poll(levels func() stats.Levels) (stop func()) {
	p := &poller{levels}
	c.mu.Lock()
	c.pollers[p] = struct{}{}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.pollers, p)
		c.mu.Unlock()
	}
}

// count returns the total of ev.
func (c *cacheRecorder) count(ev stats.Event) int64 {
	var n int64
	for s := range stripes {
		n += c.counts[s*c.stride+int(ev)].Load()
	}
	return n
}
