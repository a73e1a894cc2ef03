package l2test

import (
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// Harness tells [Run] how to create stores and how to make time pass.
type Harness struct {
	// New returns a fresh, empty store for one subtest, and registers its
	// cleanup with t.Cleanup. Stores that share a backend (one Redis server)
	// are made "empty" with a key prefix of their own.
	New func(t *testing.T) l2.Store

	// Advance makes d pass for the stores that New returned for the same t
	// (a fake clock, or miniredis's FastForward). It may move a clock shared
	// by all stores: apart from the TTL test's own keys, the suite writes
	// values that live an hour, and it advances by a few seconds in all.
	//
	// Nil means the store follows the real clock: the TTL test then uses
	// TTLs of a fraction of a second and polls, with a deadline, until the
	// short-lived keys are gone.
	Advance func(t *testing.T, d time.Duration)
}

// Run runs the conformance suite against the stores h makes. It fails the
// test at once when h.New is nil.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("l2test: Harness.New is nil")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"GetMiss", testGetMiss},
		{"SetGet", testSetGet},
		{"Overwrite", testOverwrite},
		{"Copies", testCopies},
		{"TTL", testTTL},
		{"TTLNotPositive", testTTLNotPositive},
		{"GetMany", testGetMany},
		{"SetMany", testSetMany},
		{"Delete", testDelete},
		{"CanceledContext", testCanceledContext},
		{"KeyFraming", testKeyFraming},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}
