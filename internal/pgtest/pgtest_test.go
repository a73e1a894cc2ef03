package pgtest_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/internal/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRequire_SkipsWithoutEnv(t *testing.T) {
	t.Setenv(pgtest.EnvVar, "")
	ran := false
	t.Run("inner", func(t *testing.T) {
		pgtest.Require(t)
		ran = true
	})
	if ran {
		t.Fatalf("Require did not skip with %s unset", pgtest.EnvVar)
	}
}

// sqlFunc runs a query in database postgres of srv and fails t on error.
func sqlFunc(t *testing.T, srv *pgtest.Server) func(query string) string {
	return func(query string) string {
		t.Helper()
		out, err := srv.SQL(t.Context(), "postgres", query)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// timed runs f and logs how long it took.
func timed(t *testing.T, what string, f func() error) {
	t.Helper()
	start := time.Now()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s in %v", what, time.Since(start).Round(time.Millisecond))
}

func TestServer_Lifecycle(t *testing.T) {
	t.Parallel()
	var srv *pgtest.Server
	timed(t, "initdb and start", func() error {
		srv = pgtest.NewServer(t, pgtest.Setting("max_connections", "20"))
		return nil
	})
	sql := sqlFunc(t, srv)

	if got, want := srv.DSN("app"), "postgres://postgres@"+srv.Addr()+"/app?sslmode=disable"; got != want {
		t.Errorf("DSN = %q, want %q", got, want)
	}
	for name, want := range map[string]string{
		"wal_level":        "logical",
		"listen_addresses": "127.0.0.1",
		"fsync":            "off",
		"max_connections":  "20", // the Setting, over the default 50
	} {
		if got := sql("SHOW " + name); got != want {
			t.Errorf("SHOW %s = %q, want %q", name, got, want)
		}
	}
	// pg_hba.conf lets replication connections in from 127.0.0.1.
	if out, err := srv.SQL(t.Context(), "dbname=postgres replication=database", "IDENTIFY_SYSTEM"); err != nil ||
		strings.Count(out, "|") != 3 {
		t.Errorf("IDENTIFY_SYSTEM on a replication connection = %q, %v", out, err)
	}

	sql("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
	sql("INSERT INTO items VALUES (1, 'one')")
	if got := sql("SELECT id, name FROM items"); got != "1|one" {
		t.Fatalf("SELECT = %q, want 1|one", got)
	}
	if _, err := srv.SQL(t.Context(), "postgres", "SELECT * FROM missing"); err == nil ||
		!strings.Contains(err.Error(), `relation "missing" does not exist`) {
		t.Errorf("SQL of a bad query: err = %v, want psql's message", err)
	}

	timed(t, "Stop", srv.Stop)
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if out, err := srv.SQL(t.Context(), "postgres", "SELECT 1"); err == nil {
		t.Fatalf("SQL while stopped = %q, want an error", out)
	}
	timed(t, "Restart after Stop", srv.Restart)
	if got := sql("SELECT id, name FROM items"); got != "1|one" {
		t.Fatalf("SELECT after Stop and Restart = %q, want 1|one", got)
	}

	sql("INSERT INTO items VALUES (2, 'two')")
	timed(t, "Kill", srv.Kill)
	if out, err := srv.SQL(t.Context(), "postgres", "SELECT 1"); err == nil {
		t.Fatalf("SQL after Kill = %q, want an error", out)
	}
	timed(t, "Restart after Kill (crash recovery)", srv.Restart)
	if got := sql("SELECT id, name FROM items ORDER BY id"); got != "1|one\n2|two" {
		t.Fatalf("SELECT after Kill and Restart = %q, want both rows", got)
	}

	timed(t, "Restart of a running server", srv.Restart)
	if got := sql("SELECT count(*) FROM items"); got != "2" {
		t.Fatalf("count after Restart = %q, want 2", got)
	}
}
