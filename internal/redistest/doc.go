// Package redistest starts real redis-server processes on loopback for integration tests and removes
// them afterwards.
//
// Integration tests are off by default. Set the environment variable named by [EnvVar]
// (TIERCACHE_INTEGRATION=1) to run them; redis-server must then be on PATH, in /usr/bin or in /usr/sbin:
//
//	TIERCACHE_INTEGRATION=1 go test -race ./...
//
// Without the variable, [Require], [NewServer] and [NewCluster] skip the test with a message saying how
// to enable it.
//
// [NewServer] starts one standalone server and [NewCluster] a Redis Cluster of 3 masters and 3 replicas;
// both register their Close with t.Cleanup:
//
//	func TestStore(t *testing.T) {
//		srv := redistest.NewServer(t)
//		client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
//		defer client.Close()
//		// ... use client; srv.Stop() and srv.Restart() simulate an outage.
//	}
//
//	func TestClusterStore(t *testing.T) {
//		c := redistest.NewCluster(t)
//		client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
//		defer client.Close()
//		// ... the first command of a fresh client already works.
//	}
//
// [Cluster.BeginMigration] moves a hash slot from its master to another one step by step (MIGRATING and
// IMPORTING, then [Migration.Move] of some keys, then [Migration.Finish]), so that a test can run its
// client while half of a slot's keys have moved; [Cluster.MigrateSlot] does it all at once.
//
// Every server is a child process (not daemonized) with its own temporary directory, no persistence
// (--save "" --appendonly no), bound to 127.0.0.1 on a random port in [MinPort, MaxPort]. Stop and Close kill
// and reap the process; the child also gets SIGKILL when the test binary dies. A cluster takes a little
// over 2 s to start: Redis refuses to serve a cluster for 2 s after a master starts.
package redistest
