package main

import (
	"context"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine (bus, subscription, L1, Redis client,
// miniredis) outlives Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the example on the embedded Redis, as `go run` does on a
// machine without Redis.
func TestRun(t *testing.T) {
	t.Setenv("REDIS_ADDR", "")
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
