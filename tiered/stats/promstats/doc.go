// Package promstats exports the events of tiered caches as Prometheus
// metrics. It is the only package of tiercache that imports
// github.com/prometheus/client_golang, and it is a Go module of its own, so
// that services that do not use Prometheus never download it.
//
// A [Recorder] is a tiered/stats Recorder: pass it as the Stats option of
// every cache. Each cache asks it, once, for the recorder of its name, so
// that every metric carries a cache label and the hot path never looks a
// label up. The labels are a small fixed set (cache, tier, result, op,
// outcome, reason); never a key.
//
//	reg := prometheus.NewRegistry()
//	rec, err := promstats.New(&promstats.Options{Registerer: reg})
//	if err != nil { ... }
//	users, err := tiered.New(&tiered.Options[int64, User]{Name: "user", Stats: rec, ...})
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The metrics, all named tiercache_*:
//
//   - requests_total{tier, result}: lookups, l1 hit/miss, l2 hit/miss/skipped;
//     l2_late_hits_total: L2 misses answered from L2 after all (a value
//     stored meanwhile by the load they joined or waited for).
//   - load_duration_seconds{result} (histogram; its _count is the loader
//     calls), load_keys_total, loads_abandoned_total, overloaded_total.
//   - l2_calls_total{op, outcome}, l2_call_duration_seconds{op},
//     l2_discarded_total{reason}, values_too_large_total, l2_down (the
//     breaker: 1 while reads skip L2).
//   - early_refreshes_total, stale_served_total,
//     load_soft_timeouts_total, fail_safe_throttled_total,
//     observer_checks_total{stage}, observer_disagreements_total,
//     leases_total{result}, lease_wakeups_total.
//   - invalidations_published_total{result},
//     invalidations_received_total, invalidated_keys_total,
//     invalidations_skipped_total, invalidation_lag_seconds, l1_flushes_total{reason},
//     bus_messages_total{result}, bus_interruptions_total, bus_replays_total,
//     unsettled_keys_total{result}, unsettled_keys.
//   - l1_entries, l1_cost_bytes, l1_max_cost_bytes, l1_evictions_total,
//     l1_rejections_total, l1_off: read from the cache at each scrape.
//   - cdc_changes_total{result}, cdc_lag_seconds.
//   - write_through_total{result}; write_behind_queued_total,
//     write_behind_finished_total{result}, write_behind_batches_total,
//     write_behind_batch_keys_total, write_behind_retries_total,
//     write_behind_queue_depth, write_behind_oldest_seconds.
//
// While a cache of a name is open, every counter family is sent for it,
// zeros included; a name that no open cache uses (closed caches, the CDC
// engine's "cdc") sends only what it counted.
//
// The hit ratio of L1, and the share of lookups that L1 or L2 answered,
// over 5 minutes:
//
//	sum by (cache) (rate(tiercache_requests_total{tier="l1",result="hit"}[5m]))
//	  / sum by (cache) (rate(tiercache_requests_total{tier="l1"}[5m]))
//
//	(sum by (cache) (rate(tiercache_requests_total{result="hit"}[5m]))
//	  + sum by (cache) (rate(tiercache_l2_late_hits_total[5m])))
//	  / sum by (cache) (rate(tiercache_requests_total{tier="l1"}[5m]))
//
// [NewRedisCollector] adds the memory of the L2 Redis servers, read with
// INFO (through redisstore.Memory) at each scrape: redis_up{node},
// redis_memory_used_bytes, redis_memory_peak_bytes,
// redis_memory_max_bytes, redis_maxmemory_policy_info{policy},
// redis_evicted_keys_total and redis_expired_keys_total, labelled with
// node and role. It logs, once, at Warn, what the production checklist
// asks to fix (maxmemory not set, a noeviction or allkeys-* policy). It
// does not register itself:
//
//	reg.MustRegister(promstats.NewRedisCollector(ctx, rdb, nil))
package promstats
