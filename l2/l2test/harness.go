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
	// by all stores: the subtests that call it run one at a time, the
	// others write values that live an hour, and the suite advances by about
	// ten seconds in all, but for one step of two hours (StageTTL, which
	// shows that a queued value has no expiry) when the store declares
	// l2.Staging.
	//
	// Nil means the store follows the real clock: the TTL tests then use
	// TTLs of a fraction of a second and poll, with a deadline, until the
	// short-lived keys are gone, the test of tag index lifetimes skips, and
	// so does the check that queued values outlive every TTL.
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
		// advances: the test calls h.Advance when it is set, so it runs
		// alone, not in parallel with tests that Advance would disturb.
		advances bool
	}{
		{"GetMiss", testGetMiss, false},
		{"SetGet", testSetGet, false},
		{"Overwrite", testOverwrite, false},
		{"Copies", testCopies, false},
		{"TTL", testTTL, true},
		{"TTLNotPositive", testTTLNotPositive, false},
		{"GetMany", testGetMany, false},
		{"SetMany", testSetMany, false},
		{"Delete", testDelete, false},
		{"CanceledContext", testCanceledContext, false},
		{"KeyFraming", testKeyFraming, false},
		{"Concurrent", testConcurrent, false},

		// The optional interfaces: each test skips when the store does
		// not declare its ability.
		{"Abilities", testAbilities, false},
		{"SetIf", testSetIf, false},
		{"SetManyIf", testSetManyIf, false},
		{"SetIfTTL", testSetIfTTL, true},
		{"SetIfConcurrent", testSetIfConcurrent, false},
		{"Tag", testTag, false},
		{"TagLifetime", testTagLifetime, true},
		{"TagConcurrent", testTagConcurrent, false},
		{"DeletePrefix", testDeletePrefix, false},
		{"Lease", testLease, false},
		{"LeaseOneKey", testLeaseOneKey, false},
		{"SetLeased", testSetLeased, false},
		{"LeaseRelease", testLeaseRelease, false},
		{"LeaseRevoke", testLeaseRevoke, false},
		{"LeaseTTL", testLeaseTTL, true},
		{"LeaseConcurrent", testLeaseConcurrent, false},
		{"LeaseCanceledContext", testLeaseCanceledContext, false},
		{"LeaseBatch", testLeaseBatch, false},
		{"SetLeasedBatch", testSetLeasedBatch, false},
		{"ReleaseBatch", testReleaseBatch, false},
		{"LeaseBatchThenSet", testLeaseBatchThenSet, false},
		{"LeaseBatchTTL", testLeaseBatchTTL, true},
		{"LeaseBatchConcurrent", testLeaseBatchConcurrent, false},
		{"LeaseBatchCanceledContext", testLeaseBatchCanceledContext, false},
		{"LeaseWaited", testLeaseWaited, false},
		{"LeaseWaitedBatch", testLeaseWaitedBatch, false},
		{"LeaseWaitedTTL", testLeaseWaitedTTL, true},
		{"LeaseRead", testLeaseRead, false},
		{"LeaseReadTTL", testLeaseReadTTL, true},
		{"Stage", testStage, false},
		{"StageLease", testStageLease, false},
		{"StageClaim", testStageClaim, false},
		{"StageTTL", testStageTTL, true},
		{"StageConcurrent", testStageConcurrent, false},
		{"StageCanceledContext", testStageCanceledContext, false},
		{"OptionalArgs", testOptionalArgs, false},
		{"OptionalCanceledContext", testOptionalCanceledContext, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.advances || h.Advance == nil {
				t.Parallel()
			}
			tc.fn(t, h)
		})
	}
}
