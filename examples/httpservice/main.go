// Command httpservice is a JSON HTTP service of products over a tiered
// cache, written as a user would write one: two replicas of the cache (as
// two pods would run), each with its own L1 and invalidation bus, over one
// Redis; read-through, write-through and durable write-behind over a fake
// database; a batch job that changes rows behind the cache's back, evicted
// through CDC; Prometheus metrics, readiness and liveness probes, warming
// from the hot keys of the last run, and a graceful shutdown.
//
//	go run .                         # serve on 127.0.0.1:8080, on an embedded Redis
//	go run . -load 30s               # the same, under a built-in load, then a report
//	go run . -redis 127.0.0.1:6379   # a real Redis
//	go run . -cluster 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
//
// See README.md for the endpoints and the Grafana dashboard.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats/otelstats"
	"github.com/tiercache/tiercache/tiered/stats/promstats"
)

// config is what the flags set.
type config struct {
	Addr     string        // listen address; port 0 picks a free one
	Redis    string        // a real Redis: host:port
	Cluster  []string      // a real Redis Cluster: its seed nodes
	Products int           // products in the database, ids 1..Products
	Load     time.Duration // run the load generator this long, then report and exit; 0: serve until a signal
	Workers  int           // workers of the load generator
	Trace    bool          // print the cache's spans (OpenTelemetry) to the output

	// started, when set, is called with the service's URL once it
	// listens and /readyz answers 200 (before the load, with -load).
	started func(url string)
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("httpservice", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address (127.0.0.1:0 picks a free port)")
	fs.StringVar(&cfg.Redis, "redis", "", "address of a real Redis (default: an embedded one)")
	cluster := fs.String("cluster", "", "comma-separated seed nodes of a Redis Cluster")
	fs.IntVar(&cfg.Products, "products", 10_000, "products in the fake database")
	fs.DurationVar(&cfg.Load, "load", 0, "run the built-in load generator this long, print a report and exit")
	fs.IntVar(&cfg.Workers, "workers", 8, "concurrent workers of the load generator")
	fs.BoolVar(&cfg.Trace, "trace", false, "print every span of the caches to stdout (OpenTelemetry)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *cluster != "" {
		cfg.Cluster = strings.Split(*cluster, ",")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err = run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpservice:", err)
		os.Exit(1)
	}
}

// result is what a run with -load measured, for the test.
type result struct {
	Load     *tally
	Families []familySum        // the tiercache_* families of the last scrape
	Lint     []promlint.Problem // of the last scrape
	Metrics  hits               // from tiercache_requests_total: end minus start of the load
	Answers  hits               // from the X-Cache headers of the generator's GETs
}

// syncWriter serializes the writes of several goroutines to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// closers runs functions in the reverse order of their adding: the
// shutdown sequence, built up as the parts start.
type closers []func() error

func (c *closers) add(f func() error) { *c = append(*c, f) }

func (c closers) close() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		errs = append(errs, c[i]())
	}
	return errors.Join(errs...)
}

// run starts the service and serves until ctx ends, or, with cfg.Load,
// runs the load generator against it, prints the report and returns it.
// Either way it shuts everything down before it returns.
func run(ctx context.Context, cfg *config, out io.Writer) (res *result, err error) {
	if cfg.Products < 2 || cfg.Workers < 1 {
		return nil, fmt.Errorf("need at least 2 products and 1 worker, got %d and %d", cfg.Products, cfg.Workers)
	}
	out = &syncWriter{w: out} // the logger, the load generator and the spans write at once
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var cl closers
	defer func() { err = errors.Join(err, cl.close()) }()

	rs, err := startRedis(cfg)
	if err != nil {
		return nil, err
	}
	cl.add(func() error { rs.close(); return nil })
	_, _ = fmt.Fprintln(out, "L2:", rs)

	// Metrics: one registry of the service's own, one recorder for every
	// cache (they are labelled by their Name), the Redis servers' memory
	// (its first round logs what the production checklist asks to fix),
	// and the Go runtime and process.
	reg := prometheus.NewRegistry()
	rec, err := promstats.New(&promstats.Options{Registerer: reg})
	if err != nil {
		return nil, err
	}
	ops := rs.client() // the process's own client: the memory collector and the CDC consumer
	cl.add(ops.Close)
	reg.MustRegister(
		promstats.NewRedisCollector(ctx, ops, &promstats.RedisOptions{Logger: logger}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	tracer := tierTracer{}
	if cfg.Trace {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(out))
		if err != nil {
			return nil, err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
		cl.add(func() error { return tp.Shutdown(context.WithoutCancel(ctx)) })
		if tracer.next, err = otelstats.New(&otelstats.Options{TracerProvider: tp}); err != nil {
			return nil, err
		}
	}

	db := NewDB(cfg.Products, time.Millisecond)
	deps := replicaDeps{db: db, stats: rec, tracer: tracer, logger: logger}
	var replicas []*replica
	for _, name := range []string{"a", "b"} {
		r, err := newReplica(name, rs.client(), deps)
		if err != nil {
			return nil, err
		}
		replicas = append(replicas, r)
		cl.add(r.closeConns)
		cl.add(func() error { r.closeCache(); return nil }) // the cache first, then its bus and client
	}

	// CDC: the batch job reports its changes to an engine that evicts them
	// through an Invalidator of the namespace, on a bus of its own, as a
	// CDC consumer beside the service would (invalidate/cdc/pgsource in
	// production). Its TTL is the caches' plus their stale window.
	cdcBus, err := redisbus.New(ops, &redisbus.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	cl.add(cdcBus.Close)
	inv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{
		Name: cacheName, L2: redisstore.New(ops, nil), Bus: cdcBus,
		TTL: cacheTTL + staleWindow, Stats: rec, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	cl.add(inv.Close)
	engine, err := cdc.New(&cdc.Options{
		Rules:   []cdc.Rule{{Table: productsTable.String(), Namespace: cacheName, Keys: []string{"{id}"}}},
		Targets: map[string]cdc.Target{cacheName: inv},
		Stats:   rec,
		Logger:  logger,
	})
	if err != nil {
		return nil, err
	}

	// Warm each replica with the keys the last run read most (saved in
	// Redis by its Close), or, when none were saved (a fresh embedded
	// Redis), with the first 1,000 products.
	for _, r := range replicas {
		p, err := r.cache.WarmHot(ctx, &tiered.WarmOptions{})
		if err == nil && p.Keys == 0 {
			p, err = r.cache.Warm(ctx, firstIDs(min(1000, cfg.Products)), nil)
		}
		_, _ = fmt.Fprintf(out, "warm %s: %s\n", r.name, warmLine(p))
		if err != nil {
			logger.Warn("warm", "replica", r.name, "error", err)
		}
	}

	jobCtx, stopJob := context.WithCancel(ctx)
	var job sync.WaitGroup
	job.Go(func() { db.BatchJob(jobCtx, time.Second, 5, min(100, cfg.Products), engine.Apply) })
	cl.add(func() error { stopJob(); job.Wait(); return nil })

	svc, err := newService(replicas, reg, logger)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           svc.routes(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
		ReadHeaderTimeout: 5 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	cl.add(func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	})
	base := "http://" + ln.Addr().String()
	_, _ = fmt.Fprintln(out, "listening on", base)

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	if err := waitReady(ctx, client, base+"/readyz", 20*time.Second); err != nil {
		if ctx.Err() != nil {
			return nil, nil // interrupted while starting
		}
		return nil, err
	}
	if cfg.started != nil {
		cfg.started(base)
	}
	if cfg.Load == 0 {
		select {
		case <-ctx.Done():
		case err := <-served:
			served <- err // for the shutdown
			return nil, err
		}
		_, _ = fmt.Fprintln(out, "shutting down")
		return nil, nil
	}
	return loadAndReport(ctx, cfg, out, client, base, rs, replicas[0])
}

// loadAndReport runs the load generator against base, waits for the
// write-behind queue to empty, and prints and returns the report.
func loadAndReport(ctx context.Context, cfg *config, out io.Writer, client *http.Client, base string,
	rs *redisServer, rep *replica) (*result, error) {
	// The baseline: everything counted before the load (warming's
	// lookups, the readiness probes') is subtracted.
	before, err := scrapeMetrics(ctx, client, base)
	if err != nil {
		return nil, err
	}
	opts := loadOptions{base: base, duration: cfg.Load, workers: cfg.Workers, products: cfg.Products, out: out}
	if rs.canFail() {
		opts.outage = func(ctx context.Context) error { return rs.outage(ctx, time.Second) }
	}
	_, _ = fmt.Fprintf(out, "load: %d workers for %v: 95%% GET (Zipf s=1.1 over %d ids), 4%% PUT (half ?behind=1), 1%% DELETE\n",
		cfg.Workers, cfg.Load, cfg.Products)
	start := time.Now()
	t, err := runLoad(ctx, opts)
	took := time.Since(start)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, nil // interrupted: no report
	}
	// Wait until the write-behind queue is empty: every replica's accepted
	// writes are in the database. Bounded: after the outage, the entry of
	// a write that was refused (queued, and then its value could not be
	// staged in Redis) stays in the queue until the flusher gives up on it,
	// a minute later, and FlushBehind counts it meanwhile.
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rep.cache.FlushBehind(fctx); err != nil { // durable mode: every replica's queued writes
		if ctx.Err() != nil {
			return nil, err
		}
		_, _ = fmt.Fprintf(out, "write-behind: not empty after 5s (%v); left to the flusher\n", err)
	}
	after, err := scrapeMetrics(ctx, client, base)
	if err != nil {
		return nil, err
	}
	lint, err := promlint.New(bytes.NewReader(after.text)).Lint()
	if err != nil {
		return nil, fmt.Errorf("promlint: %w", err)
	}
	res := &result{
		Load:     t,
		Families: after.sums("tiercache_"),
		Lint:     lint,
		Metrics:  after.metricHits().minus(before.metricHits()),
		Answers:  hits{Lookups: t.gets, L1: t.tiers["l1"], L2: t.tiers["l2"]},
	}
	printReport(out, res, took)
	return res, nil
}

// warmLine describes what warming did.
func warmLine(p tiered.WarmProgress) string {
	if p.Keys == 0 {
		return "nothing to warm"
	}
	return fmt.Sprintf("%d keys: %d already in L1, %d from L2, %d loaded in %d database calls, %d not found, %d failed, in %v",
		p.Keys, p.InL1, p.FromL2, p.Loaded, p.SourceCalls, p.NotFound, p.Failed, p.Elapsed.Round(time.Millisecond))
}

// printReport prints what the load did, the tiercache_* families, the
// lint of the scrape and the hit ratios.
func printReport(out io.Writer, res *result, took time.Duration) {
	t := res.Load
	var sent, failed int64
	for k := range numKinds {
		sent += t.sent[k]
		failed += t.failed[k]
	}
	_, _ = fmt.Fprintf(out, "\nload: %d requests in %v (%.0f/s), %d without an answer\n",
		sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), failed)
	for k := range numKinds {
		_, _ = fmt.Fprintf(out, "  %-14s %7d  status %v", kindNames[k], t.sent[k], statusLine(t.status[k]))
		if t.failed[k] > 0 {
			_, _ = fmt.Fprintf(out, ", %d failed", t.failed[k])
		}
		_, _ = fmt.Fprintln(out)
	}
	_, _ = fmt.Fprintf(out, "  GET answers by X-Cache: l1 %d, l2 %d, loader %d, none %d\n",
		t.tiers["l1"], t.tiers["l2"], t.tiers["loader"], t.tiers["none"])

	_, _ = fmt.Fprintf(out, "\nmetrics: %d tiercache_* families (series, sum of values; histograms: sample count)\n", len(res.Families))
	for _, f := range res.Families {
		mark := ""
		if f.Sum == 0 {
			mark = "   <- 0"
		}
		_, _ = fmt.Fprintf(out, "  %-48s %-9s %4d %14s%s\n", f.Name, strings.ToLower(f.Type.String()), f.Series, fmtNum(f.Sum), mark)
	}

	if len(res.Lint) == 0 {
		_, _ = fmt.Fprintln(out, "\npromlint: 0 problems")
	} else {
		_, _ = fmt.Fprintf(out, "\npromlint: %d problems\n", len(res.Lint))
		for _, p := range res.Lint {
			_, _ = fmt.Fprintf(out, "  %s: %s\n", p.Metric, p.Text)
		}
	}

	m, a := res.Metrics, res.Answers
	_, _ = fmt.Fprintln(out, "\nhit ratios over the load's GETs (metrics: end minus start of tiercache_requests_total; X-Cache: the generator's count)")
	_, _ = fmt.Fprintf(out, "  %-24s %-28s %-28s %s\n", "", "metrics", "X-Cache", "difference")
	_, _ = fmt.Fprintf(out, "  %-24s %-28s %-28s %+d lookups, %+d hits\n", "L1 hit ratio",
		ratio(m.L1, m.Lookups), ratio(a.L1, a.Lookups), a.Lookups-m.Lookups, a.L1-m.L1)
	_, _ = fmt.Fprintf(out, "  %-24s %-28s %-28s %+d hits\n", "answered by L1 or L2",
		ratio(m.L1+m.L2, m.Lookups), ratio(a.L1+a.L2, a.Lookups), (a.L1+a.L2)-(m.L1+m.L2))
	// Why the first line cannot differ, and the second may: see hits.
}

func statusLine(m map[int]int64) string {
	var parts []string
	for _, code := range []int{200, 202, 204, 400, 404, 500, 503} {
		if n := m[code]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d: %d", code, n))
		}
	}
	for code, n := range m {
		switch code {
		case 200, 202, 204, 400, 404, 500, 503:
		default:
			parts = append(parts, fmt.Sprintf("%d: %d", code, n))
		}
	}
	return strings.Join(parts, ", ")
}

// fmtNum prints integers as integers.
func fmtNum(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3f", v)
}

// firstIDs returns the ids 1 to n.
func firstIDs(n int) iter.Seq[int64] {
	return func(yield func(int64) bool) {
		for id := int64(1); id <= int64(n); id++ {
			if !yield(id) {
				return
			}
		}
	}
}
