package invalidate

import (
	"math"
	"strconv"
	"testing"
)

func TestTracker_Next(t *testing.T) {
	t.Parallel()
	// A step feeds one message to the tracker and checks the gap it
	// reports; a step with reset set calls Reset instead.
	type step struct {
		origin string
		seq    uint64
		gap    bool
		reset  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first message is no gap", []step{{origin: "a", seq: 7}}},
		{"consecutive", []step{{origin: "a", seq: 1}, {origin: "a", seq: 2}, {origin: "a", seq: 3}}},
		{"skip is a gap", []step{
			{origin: "a", seq: 1},
			{origin: "a", seq: 3, gap: true},
			{origin: "a", seq: 4},
			{origin: "a", seq: 10, gap: true},
		}},
		{"duplicate is no gap", []step{{origin: "a", seq: 1}, {origin: "a", seq: 2}, {origin: "a", seq: 2}, {origin: "a", seq: 3}}},
		{"older is no gap and changes nothing", []step{
			{origin: "a", seq: 1},
			{origin: "a", seq: 3, gap: true},
			{origin: "a", seq: 2},
			{origin: "a", seq: 1},
			{origin: "a", seq: 4},
		}},
		{"origins are independent", []step{
			{origin: "a", seq: 1},
			{origin: "b", seq: 5},
			{origin: "a", seq: 2},
			{origin: "b", seq: 7, gap: true},
			{origin: "a", seq: 3},
		}},
		{"reset forgets every origin", []step{
			{origin: "a", seq: 1},
			{origin: "b", seq: 1},
			{reset: true},
			{origin: "a", seq: 5},
			{origin: "b", seq: 9},
			{origin: "a", seq: 7, gap: true},
		}},
		{"reset of the zero value", []step{{reset: true}, {origin: "a", seq: 3}, {origin: "a", seq: 4}}},
		// Numbers far from the last one: one forged message costs a
		// flush, never the detection of the origin's later gaps.
		{"a jump of maxSeqJump is an ordinary gap", []step{
			{origin: "a", seq: 1},
			{origin: "a", seq: 1 + maxSeqJump, gap: true},
			{origin: "a", seq: 2 + maxSeqJump},
			{origin: "a", seq: 4 + maxSeqJump, gap: true},
		}},
		{"forged MaxUint64 is a gap and not recorded", []step{
			{origin: "a", seq: 1},
			{origin: "a", seq: math.MaxUint64, gap: true},
			{origin: "a", seq: 2},
			{origin: "a", seq: 4, gap: true}, // still detected
			{origin: "a", seq: math.MaxUint64, gap: true},
			{origin: "a", seq: 5},
		}},
		{"a jump past maxSeqJump is not recorded", []step{
			{origin: "a", seq: 10},
			{origin: "a", seq: 11 + maxSeqJump, gap: true},
			{origin: "a", seq: 11},
			{origin: "a", seq: 13, gap: true},
		}},
		{"the number after a far one confirms it", []step{
			{origin: "a", seq: 1},
			{origin: "a", seq: 5 + maxSeqJump, gap: true}, // a publisher that failed a million times
			{origin: "a", seq: 6 + maxSeqJump},
			{origin: "a", seq: 7 + maxSeqJump},
			{origin: "a", seq: 9 + maxSeqJump, gap: true},
		}},
		{"a far number not followed by the next is no confirmation", []step{
			{origin: "a", seq: 1},
			{origin: "a", seq: 5 + maxSeqJump, gap: true},
			{origin: "a", seq: 2},
			{origin: "a", seq: 7 + maxSeqJump, gap: true},
			{origin: "a", seq: 3},
		}},
		{"two forged numbers in a row do not switch detection off", []step{
			{origin: "a", seq: 7},
			{origin: "a", seq: math.MaxUint64 - 1, gap: true},
			{origin: "a", seq: math.MaxUint64},
			{origin: "a", seq: 8, gap: true}, // far behind: the record is replaced
			{origin: "a", seq: 9},
			{origin: "a", seq: 11, gap: true},
		}},
		{"forged first number", []step{
			{origin: "a", seq: math.MaxUint64},
			{origin: "a", seq: 3, gap: true},
			{origin: "a", seq: 4},
			{origin: "a", seq: 6, gap: true},
		}},
		{"a restart with the same ID", []step{
			{origin: "a", seq: 10 + maxSeqJump},
			{origin: "a", seq: 10}, // within maxSeqJump: a duplicate
			{origin: "a", seq: 1, gap: true},
			{origin: "a", seq: 2},
			{origin: "a", seq: 4, gap: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tr Tracker
			for i, s := range tt.steps {
				if s.reset {
					tr.Reset()
					continue
				}
				if gap := tr.Next(s.origin, s.seq); gap != s.gap {
					t.Errorf("step %d: Next(%q, %d) = %v, want %v", i, s.origin, s.seq, gap, s.gap)
				}
			}
		})
	}
}

// TestTracker_ManyOrigins checks that the memory of a Tracker stays bounded
// as origins come and go, and that overflowing it only forgets: no gap is
// reported for an origin it no longer knows.
func TestTracker_ManyOrigins(t *testing.T) {
	t.Parallel()
	var tr Tracker
	origin := func(i int) string { return "instance-" + strconv.Itoa(i) }
	for i := range maxOrigins {
		if tr.Next(origin(i), 1) {
			t.Fatalf("first message of %s reported a gap", origin(i))
		}
	}
	if len(tr.last) != maxOrigins {
		t.Fatalf("tracking %d origins, want %d", len(tr.last), maxOrigins)
	}
	// Known origins are still tracked at the bound.
	if !tr.Next(origin(0), 3) {
		t.Errorf("skip of a known origin at the bound: no gap")
	}
	// One more origin makes the tracker start over.
	if tr.Next("newcomer", 1) {
		t.Errorf("first message of the newcomer reported a gap")
	}
	if len(tr.last) > maxOrigins {
		t.Errorf("tracking %d origins, more than %d", len(tr.last), maxOrigins)
	}
	if tr.Next(origin(1), 5) {
		t.Errorf("skip of a forgotten origin reported a gap")
	}
	if !tr.Next("newcomer", 3) {
		t.Errorf("skip of the newcomer, tracked since the start over: no gap")
	}
	for i := range 3 * maxOrigins {
		tr.Next(origin(i), 1)
		if len(tr.last) > maxOrigins {
			t.Fatalf("after %d more origins: tracking %d, more than %d", i+1, len(tr.last), maxOrigins)
		}
	}
}
