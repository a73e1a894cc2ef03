package main

import (
	"context"
	"testing"
)

// TestRun runs the example on the embedded Redis, as `go run` does on a
// machine without Redis.
func TestRun(t *testing.T) {
	t.Setenv("REDIS_ADDR", "")
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
