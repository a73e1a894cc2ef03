package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/internal/pgtest"
)

// TestMain checks that no goroutine (the source, buses, subscriptions, L1s,
// Redis clients, miniredis, the pool) outlives run.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newRows are lines that run prints once an instance serves a changed row.
var newRows = []string{
	"A get 1 -> Gopher mug $9.60", "A get 2 -> Go book $32.00",
	"B get 1 -> Gopher mug $9.60", "B get 2 -> Go book $32.00",
}

// checkOutput fails t unless out shows both instances serving the old
// rows before the UPDATE and the new rows after it.
func checkOutput(t *testing.T, out string) {
	t.Helper()
	before, after, ok := strings.Cut(out, "UPDATE ")
	if !ok {
		t.Fatalf("no UPDATE in the output:\n%s", out)
	}
	for _, want := range []string{"A get 1 -> Gopher mug $12.00", "B get 1 -> Gopher mug $12.00"} {
		if !strings.Contains(before, want) {
			t.Errorf("before the UPDATE, the output lacks %q", want)
		}
	}
	for _, want := range newRows {
		if !strings.Contains(after, want) {
			t.Errorf("after the UPDATE, the output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestRun runs the example as `go run .` does: on a throwaway server.
func TestRun(t *testing.T) {
	pgtest.Require(t)
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), &out, ""); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	checkOutput(t, out.String())
}

// TestRun_DSN runs the example on a server of its own, as `go run . -dsn`
// does, and checks that it leaves nothing behind and refuses to run over
// objects it did not create.
func TestRun_DSN(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t)
	var out bytes.Buffer
	if err := run(t.Context(), &out, srv.DSN("postgres")); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	checkOutput(t, out.String())

	left, err := srv.SQL(t.Context(), "postgres", `SELECT to_regclass('`+table+`') IS NOT NULL,
		(SELECT count(*) FROM pg_publication), (SELECT count(*) FROM pg_replication_slots)`)
	if err != nil {
		t.Fatal(err)
	}
	if left != "f|0|0" {
		t.Errorf("after run: table exists, publications, slots = %q, want f|0|0", left)
	}

	if _, err := srv.SQL(t.Context(), "postgres", "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), &bytes.Buffer{}, srv.DSN("postgres"))
	if err == nil || !strings.Contains(err.Error(), "DROP TABLE "+table) {
		t.Errorf("run over an existing table: err = %v, want one that says to drop it", err)
	}
	if ok, err := srv.SQL(t.Context(), "postgres", `SELECT to_regclass('`+table+`') IS NOT NULL`); err != nil || ok != "t" {
		t.Errorf("run dropped a table it did not create: %q, %v", ok, err)
	}
}

// TestRun_WALLevel checks that a server without logical decoding is
// refused with a message saying what to change.
func TestRun_WALLevel(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t, pgtest.Setting("wal_level", "replica"))
	err := run(t.Context(), &bytes.Buffer{}, srv.DSN("postgres"))
	if err == nil || !strings.Contains(err.Error(), "wal_level=logical") {
		t.Errorf("run on wal_level=replica: err = %v, want one that asks for wal_level=logical", err)
	}
}
