package promstats

import "github.com/tiercache/tiercache/tiered/stats"

// A family is one metric of the adapter: its name, help, the labels it has
// beside "cache", and how it is fed.
type family struct {
	name, help string
	labels     []string
}

// route sends an event to a family, with the values of its labels (beside
// the cache's name).
type route struct {
	fam    *family
	values []string
}

// Counter families, fed by Recorder.Add (and by Observe, one per call, for
// the events that have no histogram).
var (
	famRequests = &family{"tiercache_requests_total",
		"Lookups of keys by tier and result: l1 hit or miss; l2 hit, miss, or skipped (L2 failed recently, or no slot was free).",
		[]string{"tier", "result"}}
	famLateHits = &family{"tiercache_l2_late_hits_total",
		"Lookups that missed L2 and were answered from L2 all the same, by a value stored meanwhile (by the load they joined, or another instance's load under a lease).", nil}
	famDiscarded = &family{"tiercache_l2_discarded_total",
		"Values read from L2 and not used: corrupt, of another schema (foreign), doubted (its invalidation has not reached L2 yet), or a key that failed alone (key_fault).",
		[]string{"reason"}}
	famTooLarge = &family{"tiercache_values_too_large_total",
		"Values larger than MaxValueSize: served but not cached (loads), not stored (Set), or not decoded (read from L2).", nil}
	famLoadKeys = &family{"tiercache_load_keys_total",
		"Keys passed to the BatchLoader.", nil}
	famAbandoned = &family{"tiercache_loads_abandoned_total",
		"Loads that outlived LoadTimeout; their values are dropped.", nil}
	famOverloaded = &family{"tiercache_overloaded_total",
		"Loads that found no free slot of MaxLoads in time, and early refreshes skipped for want of one.", nil}
	famEarly = &family{"tiercache_early_refreshes_total",
		"Background refreshes of values close to their expiry (XFetch).", nil}
	famStale = &family{"tiercache_stale_served_total",
		"Reads answered with a value past its expiry (stale-while-revalidate or stale-if-error).", nil}
	famSoftTimeouts = &family{"tiercache_load_soft_timeouts_total",
		"Reads that stopped waiting for a load at LoadSoftTimeout and were answered with a value past its expiry.", nil}
	famObserved = &family{"tiercache_observer_checks_total",
		"Sampled L1 hits the consistency observer queued and checked.", []string{"stage"}}
	famDisagreed = &family{"tiercache_observer_disagreements_total",
		"Sampled L1 hits whose value L2 or the source contradicted after the grace period.", nil}
	famThrottled = &family{"tiercache_fail_safe_throttled_total",
		"Reads answered with a value past its expiry without a loader call, within FailSafeThrottle of a failed load.", nil}
	famLeases = &family{"tiercache_leases_total",
		"L2 leases on missing keys: granted to this instance (it loads), waited for (another instance loads), lost (the load's value was not stored).",
		[]string{"result"}}
	famLeaseWoken = &family{"tiercache_lease_wakeups_total",
		"Waits for another instance's lease ended by a message rather than a poll.", nil}
	famPublished = &family{"tiercache_invalidations_published_total",
		"Invalidations handed to the bus, by result.", []string{"result"}}
	famReceived = &family{"tiercache_invalidations_received_total",
		"Invalidation messages from other instances applied to L1.", nil}
	famReceivedKeys = &family{"tiercache_invalidated_keys_total",
		"Keys dropped from L1 because another instance invalidated them.", nil}
	famSkipped = &family{"tiercache_invalidations_skipped_total",
		"This instance's own invalidation messages, heard back and skipped.", nil}
	famFlushes = &family{"tiercache_l1_flushes_total",
		"Flushes of L1, by reason: subscribed (first subscription), resubscribed, gap (a missed message), remote (a flush, tags or a prefix from another instance), coalesced (folded into the flush before).",
		[]string{"reason"}}
	famInterrupted = &family{"tiercache_bus_interruptions_total",
		"Broken bus subscriptions (L1 is off until the subscription is back).", nil}
	famResumed = &family{"tiercache_bus_replays_total",
		"Bus subscriptions that came back and replayed what they missed from the log, without flushing L1.", nil}
	famBus = &family{"tiercache_bus_messages_total",
		"Messages of the namespace on the bus, by result: sent, failed (kept and sent again), rejected (received unauthenticated or too large).",
		[]string{"result"}}
	famUnsettled = &family{"tiercache_unsettled_keys_total",
		"Keys whose write or delete did not reach L2 (retried until they land), and keys whose retry landed (settled).",
		[]string{"result"}}
	famCDC = &family{"tiercache_cdc_changes_total",
		"Database changes handled by a CDC engine, by result: applied, skipped (no rule maps the table), dead_letter.",
		[]string{"result"}}
	famThrough = &family{"tiercache_write_through_total",
		"Write-throughs by result: stored (the value went to the cache) or invalidated (the key was invalidated instead).",
		[]string{"result"}}
	famQueued = &family{"tiercache_write_behind_queued_total",
		"Writes accepted by WriteBehind and DeleteBehind.", nil}
	famFinished = &family{"tiercache_write_behind_finished_total",
		"Accepted writes finished by this instance's flusher, by result: flushed, coalesced (a later write of the key went instead), dead_letter.",
		[]string{"result"}}
	famBatches = &family{"tiercache_write_behind_batches_total",
		"Writer or BatchWriter calls of the write-behind flusher, retries included.", nil}
	famBatchKeys = &family{"tiercache_write_behind_batch_keys_total",
		"Keys passed to those calls.", nil}
	famRetries = &family{"tiercache_write_behind_retries_total",
		"Source writes of the flusher that failed and will be retried.", nil}
	famL2Calls = &family{"tiercache_l2_calls_total",
		"Calls of L2 by operation and outcome (ok, error, timeout, canceled).",
		[]string{"op", "outcome"}}
)

// Histogram families, fed by Recorder.Observe and ObserveL2.
var (
	famLoadDuration = &family{"tiercache_load_duration_seconds",
		"Loader calls by result (success, not_found, failure) and how long they took; a BatchLoader call counts once.",
		[]string{"result"}}
	famL2Duration = &family{"tiercache_l2_call_duration_seconds",
		"How long calls of L2 took, by operation.", []string{"op"}}
	famInvalidationLag = &family{"tiercache_invalidation_lag_seconds",
		"From an invalidation's publication by another instance to its application to this L1 (clock skew between hosts included).", nil}
	famCDCLag = &family{"tiercache_cdc_lag_seconds",
		"From a change's commit in the database to the end of its eviction from every tier.", nil}
)

// Gauge families, fed by Recorder.Gauge.
var (
	famQueueDepth = &family{"tiercache_write_behind_queue_depth",
		"Writes accepted and not yet in the source.", nil}
	famQueueOldest = &family{"tiercache_write_behind_oldest_seconds",
		"Age of the oldest write accepted and not yet in the source.", nil}
)

// Level families, read from the cache when scraped (stats.Poller).
var (
	famL1Entries = &family{"tiercache_l1_entries",
		"Entries in L1 (only when the L1 store counts them: l1.Options.Metrics).", nil}
	famL1Cost = &family{"tiercache_l1_cost_bytes",
		"Total cost of L1's entries: bytes, unless Options.Cost says otherwise.", nil}
	famL1MaxCost = &family{"tiercache_l1_max_cost_bytes",
		"L1's capacity, in the unit of tiercache_l1_cost_bytes.", nil}
	famL1Evictions = &family{"tiercache_l1_evictions_total",
		"Entries L1 dropped to make room or because they expired.", nil}
	famL1Rejections = &family{"tiercache_l1_rejections_total",
		"Values L1's admission policy refused.", nil}
	famL2Down = &family{"tiercache_l2_down",
		"1 while reads skip L2 because it failed recently (the breaker is open), else 0.", nil}
	famL1Off = &family{"tiercache_l1_off",
		"1 while L1 serves nothing because the bus's subscription is not in place, else 0.", nil}
	famUnsettledNow = &family{"tiercache_unsettled_keys",
		"Keys whose write or delete has not reached L2 yet, retried by this instance.", nil}
)

// counterRoutes maps the events counted by Add. Events absent here and from
// histRoutes and gaugeRoutes are not exported: L2Error, whose calls
// tiercache_l2_calls_total counts by outcome.
var counterRoutes = map[stats.Event]route{
	stats.L1Hit:              {famRequests, []string{"l1", "hit"}},
	stats.L1Miss:             {famRequests, []string{"l1", "miss"}},
	stats.L2Hit:              {famRequests, []string{"l2", "hit"}},
	stats.L2Miss:             {famRequests, []string{"l2", "miss"}},
	stats.L2Skipped:          {famRequests, []string{"l2", "skipped"}},
	stats.L2LateHit:          {famLateHits, nil},
	stats.L2Corrupt:          {famDiscarded, []string{"corrupt"}},
	stats.L2Foreign:          {famDiscarded, []string{"foreign"}},
	stats.L2Doubted:          {famDiscarded, []string{"doubted"}},
	stats.L2KeyFault:         {famDiscarded, []string{"key_fault"}},
	stats.ValueTooLarge:      {famTooLarge, nil},
	stats.BatchLoadKeys:      {famLoadKeys, nil},
	stats.LoadAbandoned:      {famAbandoned, nil},
	stats.Overloaded:         {famOverloaded, nil},
	stats.EarlyRefresh:       {famEarly, nil},
	stats.StaleServed:        {famStale, nil},
	stats.SoftTimeout:        {famSoftTimeouts, nil},
	stats.Throttled:          {famThrottled, nil},
	stats.ObserveQueued:      {famObserved, []string{"queued"}},
	stats.ObserveChecked:     {famObserved, []string{"checked"}},
	stats.Disagreed:          {famDisagreed, nil},
	stats.LeaseGranted:       {famLeases, []string{"granted"}},
	stats.LeaseWaited:        {famLeases, []string{"waited"}},
	stats.LeaseLost:          {famLeases, []string{"lost"}},
	stats.LeaseWoken:         {famLeaseWoken, nil},
	stats.Published:          {famPublished, []string{"ok"}},
	stats.PublishError:       {famPublished, []string{"error"}},
	stats.Received:           {famReceived, nil},
	stats.ReceivedKeys:       {famReceivedKeys, nil},
	stats.Skipped:            {famSkipped, nil},
	stats.Subscribed:         {famFlushes, []string{"subscribed"}},
	stats.FlushResubscribed:  {famFlushes, []string{"resubscribed"}},
	stats.FlushGap:           {famFlushes, []string{"gap"}},
	stats.FlushRemote:        {famFlushes, []string{"remote"}},
	stats.FlushCoalesced:     {famFlushes, []string{"coalesced"}},
	stats.Interrupted:        {famInterrupted, nil},
	stats.Resumed:            {famResumed, nil},
	stats.BusSent:            {famBus, []string{"sent"}},
	stats.BusSendFailed:      {famBus, []string{"failed"}},
	stats.BusRejected:        {famBus, []string{"rejected"}},
	stats.Unsettled:          {famUnsettled, []string{"unsettled"}},
	stats.Settled:            {famUnsettled, []string{"settled"}},
	stats.CDCApplied:         {famCDC, []string{"applied"}},
	stats.CDCSkipped:         {famCDC, []string{"skipped"}},
	stats.CDCDeadLetter:      {famCDC, []string{"dead_letter"}},
	stats.ThroughStored:      {famThrough, []string{"stored"}},
	stats.ThroughInvalidated: {famThrough, []string{"invalidated"}},
	stats.WriteQueued:        {famQueued, nil},
	stats.WriteFlushed:       {famFinished, []string{"flushed"}},
	stats.WriteCoalesced:     {famFinished, []string{"coalesced"}},
	stats.WriteDeadLetter:    {famFinished, []string{"dead_letter"}},
	stats.WriteBatches:       {famBatches, nil},
	stats.WriteBatchKeys:     {famBatchKeys, nil},
	stats.WriteRetry:         {famRetries, nil},
}

// histRoutes maps the events observed with a duration.
var histRoutes = map[stats.Event]route{
	stats.LoadSuccess:     {famLoadDuration, []string{"success"}},
	stats.LoadNotFound:    {famLoadDuration, []string{"not_found"}},
	stats.LoadFailure:     {famLoadDuration, []string{"failure"}},
	stats.InvalidationLag: {famInvalidationLag, nil},
	stats.CDCLag:          {famCDCLag, nil},
}

// gaugeRoutes maps the events set with Gauge, and the factor that turns
// their value into the family's unit.
var gaugeRoutes = map[stats.Event]struct {
	route
	scale float64
}{
	stats.QueueDepth:  {route{famQueueDepth, nil}, 1},
	stats.QueueOldest: {route{famQueueOldest, nil}, 1e-9},
}
