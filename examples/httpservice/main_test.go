package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine (the HTTP server and its connections,
// the load generator's client, the caches, buses, write-behind flushers,
// Redis clients, the batch job, the embedded Redis and its clock, the
// span exporter) outlives run.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lockedBuffer is an output that the test reads after run returned.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// get sends GET url and returns the answer's status, X-Cache header and
// body.
func get(t *testing.T, client *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, "", ""
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Cache"), string(b)
}

// nonZeroFamilies are the tiercache_* families that a 3 s load with the
// outage of the embedded Redis in its middle must leave present and
// non-zero.
//
// Legitimately zero (or absent) in such a run, and so not listed:
//
//   - early_refreshes_total, stale_served_total: values live 20 s (TTL),
//     longer than this run (a 30 s run has both), and XFetch refreshes
//     early only within a few load durations (~1 ms) of the expiry.
//   - loads_abandoned_total, overloaded_total, values_too_large_total,
//     l2_discarded_total, write_behind_retries_total: the database answers
//     in 1 ms and never fails, values are small, nothing foreign or
//     corrupt is in Redis.
//   - l1_evictions_total: L1 (512 KiB) holds about 3,500 products, more
//     than a 3 s run of 1,000 reads.
//   - unsettled_keys_total, lease_wakeups_total, l1_rejections_total:
//     usually non-zero, but they depend on timing (a write during the
//     outage; two replicas missing one key at once; ristretto's admission
//     sampling), so a short run on a loaded machine may leave them 0.
//   - l1_entries, l1_cost_bytes: L1 is flushed when the bus's
//     subscription comes back after the outage (1.5 s to 2.5 s, and up to
//     a second more to resubscribe): the load often ends before the
//     replicas read enough to fill it again, and they are often 0.
//   - l2_down, l1_off, unsettled_keys, write_behind_queue_depth,
//     write_behind_oldest_seconds: gauges, 0 once the outage is over and
//     the queue flushed (the depth gauge is polled once a second and may
//     still show the last writes).
//   - redis_up: 0, and the redis_memory_* families absent, on the
//     embedded Redis: miniredis does not answer INFO memory stats
//     replication. They are exported with a real Redis (-redis).
var nonZeroFamilies = []string{
	"tiercache_requests_total",
	"tiercache_load_duration_seconds",
	"tiercache_l2_calls_total",
	"tiercache_l2_call_duration_seconds",
	"tiercache_leases_total",
	"tiercache_invalidations_published_total",
	"tiercache_invalidations_received_total",
	"tiercache_invalidations_skipped_total",
	"tiercache_invalidated_keys_total",
	"tiercache_invalidation_lag_seconds",
	"tiercache_bus_messages_total",
	"tiercache_bus_interruptions_total", // the outage
	"tiercache_l1_flushes_total",        // the first subscriptions, and the outage's
	"tiercache_l1_max_cost_bytes",
	"tiercache_load_keys_total",   // warming the first 1,000 products: no hot keys saved yet
	"tiercache_cdc_changes_total", // the batch job, once a second
	"tiercache_cdc_lag_seconds",
	"tiercache_write_through_total",
	"tiercache_write_behind_queued_total",
	"tiercache_write_behind_finished_total",
	"tiercache_write_behind_batches_total",
	"tiercache_write_behind_batch_keys_total",
}

// TestRun_Load runs the service with -load 3s on the embedded Redis, as
// `go run . -load 3s -products 1000` does.
func TestRun_Load(t *testing.T) {
	var out lockedBuffer
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var readyz, healthz int
	cfg := &config{Addr: "127.0.0.1:0", Products: 1000, Load: 3 * time.Second, Workers: 8}
	cfg.started = func(url string) {
		readyz, _, _ = get(t, client, url+"/readyz")
		healthz, _, _ = get(t, client, url+"/healthz")
		client.CloseIdleConnections()
	}
	res, err := run(t.Context(), cfg, &out)
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	}()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if readyz != http.StatusOK || healthz != http.StatusOK {
		t.Errorf("after start: /readyz %d, /healthz %d, want 200", readyz, healthz)
	}

	sums := map[string]familySum{}
	for _, f := range res.Families {
		sums[f.Name] = f
	}
	for _, name := range nonZeroFamilies {
		switch f, ok := sums[name]; {
		case !ok:
			t.Errorf("family %s missing from /metrics", name)
		case f.Sum == 0:
			t.Errorf("family %s is 0 (%d series)", name, f.Series)
		}
	}
	for _, p := range res.Lint {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	// Both counts are over the same GETs (see hits): equal, to the request.
	m, a := res.Metrics, res.Answers
	if failed := res.Load.failed[kindGet]; failed > 0 {
		t.Errorf("%d GETs got no answer: the generator cannot count them", failed)
	}
	if a.Lookups == 0 || m.Lookups != a.Lookups || m.L1 != a.L1 {
		t.Errorf("metrics: %d L1 hits of %d lookups; X-Cache: %d l1 of %d GETs; want the same counts", m.L1, m.Lookups, a.L1, a.Lookups)
	}
	if a.L2 != m.L2 {
		t.Errorf("X-Cache: %d answered by L2, the metrics count %d", a.L2, m.L2)
	}
	t.Logf("%d GETs: L1 %d, L2 %d (X-Cache) vs %d (metrics)", a.Lookups, a.L1, a.L2, m.L2)
}

// TestRun_Serve runs the service as `go run . -trace` does, reads a
// product three times, and stops it as SIGINT would.
func TestRun_Serve(t *testing.T) {
	var out lockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var tiers []string
	cfg := &config{Addr: "127.0.0.1:0", Products: 2000, Workers: 1, Trace: true}
	cfg.started = func(url string) {
		defer cancel() // then run shuts down
		// Requests alternate between the replicas: b loads the product
		// (id 2000, which the batch job never changes and warming, of the
		// first 1,000 products, does not read) and stores it in
		// Redis, a reads it there, b reads its L1 (or Redis, when its L1
		// has not taken the value in yet: ristretto admits new keys
		// asynchronously).
		for range 3 {
			code, tier, body := get(t, client, url+"/products/2000")
			if code != http.StatusOK || !strings.Contains(body, `"id":2000`) {
				t.Errorf("GET /products/2000: %d %s", code, body)
			}
			tiers = append(tiers, tier)
		}
		if code, tier, _ := get(t, client, url+"/products/2001"); code != http.StatusNotFound || tier != "loader" {
			t.Errorf("GET /products/2001: %d, X-Cache %q; want 404 from the loader", code, tier)
		}
		client.CloseIdleConnections()
	}
	if _, err := run(ctx, cfg, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	if len(tiers) != 3 || tiers[0] != "loader" || tiers[1] != "l2" || (tiers[2] != "l1" && tiers[2] != "l2") {
		t.Errorf("X-Cache of three reads: %q, want loader, l2, then l1 or l2", tiers)
	}
	if !strings.Contains(out.String(), `"Name":"tiercache.get"`) {
		t.Errorf("no span of a get printed:\n%s", out.String())
	}
}
