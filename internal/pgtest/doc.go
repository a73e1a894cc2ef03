// Package pgtest starts real PostgreSQL servers on loopback for integration tests and removes them
// afterwards.
//
// Integration tests are off by default. Set the environment variable named by [EnvVar]
// (TIERCACHE_INTEGRATION=1, the same switch as for redistest) to run them; initdb, postgres,
// pg_isready and psql must then be on PATH or in /usr/lib/postgresql/VERSION/bin (the highest VERSION
// wins):
//
//	TIERCACHE_INTEGRATION=1 go test -race ./...
//
// Without the variable, [Require] and [NewServer] skip the test with a message saying how to enable it.
//
// [NewServer] creates a cluster with initdb in a temporary directory, starts a server on it and
// registers its Close with t.Cleanup:
//
//	func TestCDC(t *testing.T) {
//		srv := pgtest.NewServer(t)
//		if _, err := srv.SQL(t.Context(), "postgres",
//			"CREATE TABLE users (id bigint PRIMARY KEY, name text); CREATE PUBLICATION cache FOR TABLE users"); err != nil {
//			t.Fatal(err)
//		}
//		conn, err := pgx.Connect(t.Context(), srv.DSN("postgres"))
//		// ... srv.Stop() and srv.Restart() simulate an outage, srv.Kill() and srv.Restart() a crash.
//	}
//
// [Server.SQL] runs statements through psql, for tests without a Go driver; [Server.DSN] is the URL a
// driver connects to, as the superuser postgres without a password (trust authentication, replication
// connections included).
//
// Every server is a postgres child process (not daemonized) bound to 127.0.0.1 on a random port in
// [MinPort, MaxPort], without a Unix socket, with wal_level logical and fsync off ([Setting] changes
// these). When the test process is root, initdb and postgres run as the postgres user, which must be
// able to reach the temporary directory. [Server.Stop] is a fast shutdown, [Server.Kill] a SIGKILL of
// every process of the server, after which [Server.Restart] runs crash recovery; both keep the port and
// the data. Close kills the server and removes its directory; the server also gets SIGKILL when the
// test binary dies. initdb takes 1-2 s, a start, a stop or a restart a few tens of milliseconds to
// a few hundred under load.
package pgtest
