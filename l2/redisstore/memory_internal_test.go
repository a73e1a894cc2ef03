package redisstore

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// redis7Info is the reply of a Redis 7.0.15 master to INFO memory stats
// replication, with maxmemory 64mb and volatile-lru set, some keys written,
// evicted and expired (lines end with "\r\n" on the wire).
const redis7Info = `# Memory
used_memory:1938472
used_memory_human:893.40K
used_memory_rss:12201984
used_memory_rss_human:11.64M
used_memory_peak:2250016
used_memory_peak_human:893.40K
used_memory_peak_perc:102.33%
used_memory_overhead:876400
used_memory_startup:876200
used_memory_dataset:38440
used_memory_dataset_perc:99.48%
allocator_allocated:1690848
allocator_active:1826816
allocator_resident:4497408
total_system_memory:25276153856
total_system_memory_human:23.54G
used_memory_lua:32768
used_memory_vm_eval:32768
used_memory_lua_human:32.00K
used_memory_scripts_eval:0
number_of_cached_scripts:0
number_of_functions:0
number_of_libraries:0
used_memory_vm_functions:33792
used_memory_vm_total:66560
used_memory_vm_total_human:65.00K
used_memory_functions:200
used_memory_scripts:200
used_memory_scripts_human:200B
maxmemory:67108864
maxmemory_human:64.00M
maxmemory_policy:volatile-lru
allocator_frag_ratio:1.08
allocator_frag_bytes:135968
allocator_rss_ratio:2.46
allocator_rss_bytes:2670592
rss_overhead_ratio:2.71
rss_overhead_bytes:7704576
mem_fragmentation_ratio:13.92
mem_fragmentation_bytes:11325640
mem_not_counted_for_evict:0
mem_replication_backlog:0
mem_total_replication_buffers:0
mem_clients_slaves:0
mem_clients_normal:0
mem_cluster_links:0
mem_aof_buffer:0
mem_allocator:jemalloc-5.3.0
active_defrag_running:0
lazyfree_pending_objects:0
lazyfreed_objects:0

# Stats
total_connections_received:1
total_commands_processed:0
instantaneous_ops_per_sec:0
total_net_input_bytes:55
total_net_output_bytes:0
total_net_repl_input_bytes:0
total_net_repl_output_bytes:0
instantaneous_input_kbps:0.00
instantaneous_output_kbps:0.00
instantaneous_input_repl_kbps:0.00
instantaneous_output_repl_kbps:0.00
rejected_connections:0
sync_full:0
sync_partial_ok:0
sync_partial_err:0
expired_keys:17
expired_stale_perc:0.00
expired_time_cap_reached_count:0
expire_cycle_cpu_milliseconds:0
evicted_keys:5
evicted_clients:0
total_eviction_exceeded_time:0
current_eviction_exceeded_time:0
keyspace_hits:0
keyspace_misses:0
pubsub_channels:0
pubsub_patterns:0
pubsubshard_channels:0
latest_fork_usec:0
total_forks:0
migrate_cached_sockets:0
slave_expires_tracked_keys:0
active_defrag_hits:0
active_defrag_misses:0
active_defrag_key_hits:0
active_defrag_key_misses:0
total_active_defrag_time:0
current_active_defrag_time:0
tracking_total_keys:0
tracking_total_items:0
tracking_total_prefixes:0
unexpected_error_replies:0
total_error_replies:0
dump_payload_sanitizations:0
total_reads_processed:1
total_writes_processed:0
io_threaded_reads_processed:0
io_threaded_writes_processed:0
reply_buffer_shrinks:0
reply_buffer_expands:0

# Replication
role:master
connected_slaves:0
master_failover_state:no-failover
master_replid:72eadd8bcfc60cf78cc889d67f3c89eb5d2bbd28
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:0
second_repl_offset:-1
repl_backlog_active:0
repl_backlog_size:1048576
repl_backlog_first_byte_offset:0
repl_backlog_histlen:0
`

// redis6ReplicaInfo is what a Redis 6 replica answers to INFO replication:
// role "slave", and no memory section.
const redis6ReplicaInfo = `# Replication
role:slave
master_host:10.0.0.7
master_port:6379
master_link_status:up
master_last_io_seconds_ago:1
master_sync_in_progress:0
slave_repl_offset:10472
slave_priority:100
slave_read_only:1
connected_slaves:0
master_repl_offset:10472
`

func TestMemory_ParseInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		want       NodeMemory
	}{
		{"redis 7, CRLF", strings.ReplaceAll(redis7Info, "\n", "\r\n"), NodeMemory{
			Role: "master", Used: 1938472, Peak: 2250016, MaxMemory: 64 << 20, Policy: "volatile-lru",
			EvictedKeys: 5, ExpiredKeys: 17,
		}},
		{"redis 7, LF", redis7Info, NodeMemory{
			Role: "master", Used: 1938472, Peak: 2250016, MaxMemory: 64 << 20, Policy: "volatile-lru",
			EvictedKeys: 5, ExpiredKeys: 17,
		}},
		{"redis 6 replica", redis6ReplicaInfo, NodeMemory{Role: "replica"}},
		{"role replica", "role:replica\r\n", NodeMemory{Role: "replica"}},
		{"empty", "", NodeMemory{}},
		{"headers only", "# Memory\r\n\r\n# Stats\r\n", NodeMemory{}},
		{"no trailing newline", "used_memory:42", NodeMemory{Used: 42}},
		{"spaces and CR", " \r\nused_memory: 42 \r\r\nmaxmemory_policy: allkeys-lru \r\n", NodeMemory{Used: 42, Policy: "allkeys-lru"}},
		{"garbage", "used_memory\r\n:12\r\nused_memory:12abc\r\nmaxmemory:-5\r\nevicted_keys:1e3\r\n" +
			"expired_keys:99999999999999999999999\r\nused_memory_peak:\r\n#used_memory:7\r\n\x00\xff:\xfe", NodeMemory{}},
		{"unknown fields", "used_memory_human:1.5M\r\nused_memory_rss:999\r\nfoo:bar:baz\r\n", NodeMemory{}},
		{"value with colons", "maxmemory_policy:a:b\r\n", NodeMemory{Policy: "a:b"}},
		{"invalid UTF-8", "role:\xffslave\r\nmaxmemory_policy:lru\xc3\r\n", NodeMemory{Role: "\uFFFDslave", Policy: "lru\uFFFD"}},
		{"last wins", "used_memory:1\r\nused_memory:2\r\n", NodeMemory{Used: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := parseInfo(tc.text); got != tc.want {
				t.Errorf("parseInfo = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseInfo checks that parseInfo never panics, never reports a
// negative number, and gives valid UTF-8 (label values must be).
func FuzzParseInfo(f *testing.F) {
	f.Add(redis7Info)
	f.Add(strings.ReplaceAll(redis7Info, "\n", "\r\n"))
	f.Add(redis6ReplicaInfo)
	f.Add("")
	f.Add("used_memory:-1\r\n:\r\n#\r\nrole:\xff\r\n")
	f.Fuzz(func(t *testing.T, text string) {
		m := parseInfo(text)
		if m.Used < 0 || m.Peak < 0 || m.MaxMemory < 0 || m.EvictedKeys < 0 || m.ExpiredKeys < 0 {
			t.Errorf("parseInfo(%q) = %+v: a negative number", text, m)
		}
		if !utf8.ValidString(m.Role) || !utf8.ValidString(m.Policy) {
			t.Errorf("parseInfo(%q) = %+v: invalid UTF-8", text, m)
		}
		if m.Addr != "" {
			t.Errorf("parseInfo(%q) set Addr %q", text, m.Addr)
		}
	})
}
