package l2test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// The tests of l2.Stager (stage.go of l2): queued values, their sequence
// numbers and claims, and how Lease serves a key with a queued value.

// bigSeq is a sequence number of the size that a durable queue hands out
// (a Unix time in milliseconds, shifted left by 20 bits): far beyond the
// 2^53 that a double, a Lua number, holds exactly.
const bigSeq = uint64(1764950000000) << 20

// stage calls Stage and fails t on an error, or when it does not return
// one number per item.
func stage(t *testing.T, st l2.Stager, items ...l2.StageItem) []uint64 {
	t.Helper()
	seqs, err := st.Stage(t.Context(), items)
	if err != nil {
		t.Fatalf("Stage(%d items): %v", len(items), err)
	}
	if len(seqs) != len(items) {
		t.Fatalf("Stage(%d items) returned %d numbers", len(items), len(seqs))
	}
	return seqs
}

// wantStage stages value under key with seq, and checks the number
// stored (0: refused).
func wantStage(t *testing.T, st l2.Stager, key string, value []byte, seq, want uint64) {
	t.Helper()
	if got := stage(t, st, l2.StageItem{Key: key, Value: value, Seq: seq})[0]; got != want {
		t.Errorf("Stage(%q, %q, seq %d) = %d, want %d", key, value, seq, got, want)
	}
}

// claim calls Claim and fails t on an error, or when it does not return
// one answer per key.
func claim(t *testing.T, st l2.Stager, token l2.Token, ttl time.Duration, keys ...string) []l2.Staged {
	t.Helper()
	res, err := st.Claim(t.Context(), token, ttl, keys)
	if err != nil {
		t.Fatalf("Claim(token %s, %d keys): %v", tokName(token), len(keys), err)
	}
	if len(res) != len(keys) {
		t.Fatalf("Claim(token %s, %d keys) returned %d answers", tokName(token), len(keys), len(res))
	}
	return res
}

// sameStaged reports whether a and b are the same answer of Claim,
// telling a nil value (none queued) from an empty one.
func sameStaged(a, b l2.Staged) bool {
	return a.Seq == b.Seq && a.Busy == b.Busy && (a.Value == nil) == (b.Value == nil) && bytes.Equal(a.Value, b.Value)
}

// checkStaged checks an answer of Claim.
func checkStaged(t *testing.T, what string, got, want l2.Staged) {
	t.Helper()
	if !sameStaged(got, want) {
		t.Errorf("%s = %s, want %s", what, fmtStaged(got), fmtStaged(want))
	}
}

// fmtStaged formats an answer of Claim for a failure message.
func fmtStaged(s l2.Staged) string {
	v := "nil"
	if s.Value != nil {
		v = fmt.Sprintf("%q", trunc(s.Value))
	}
	return fmt.Sprintf("{Value %s, Seq %d, Busy %v}", v, s.Seq, s.Busy)
}

// wantClaim claims key for token, for TTL long, and checks the answer.
func wantClaim(t *testing.T, st l2.Stager, key string, token l2.Token, want l2.Staged) {
	t.Helper()
	got := claim(t, st, token, long, key)[0]
	checkStaged(t, fmt.Sprintf("Claim(%q, token %s)", key, tokName(token)), got, want)
}

// queuedAs returns what Claim answers for a key whose queued value is v
// with number seq, claimed by the caller (busy false) or by another.
func queuedAs(v []byte, seq uint64, busy bool) l2.Staged {
	if v == nil {
		v = []byte{}
	}
	return l2.Staged{Value: v, Seq: seq, Busy: busy}
}

// peek returns what Claim answers for key to tokProbe, and then ends
// tokProbe's claim with an Unstage of sequence number 0, which no queued
// value has: it looks without changing anything (unless a claim of
// tokProbe's expired meanwhile).
func peek(t *testing.T, st l2.Stager, key string) l2.Staged {
	t.Helper()
	got := claim(t, st, tokProbe, long, key)[0]
	unstage(t, st, tokProbe, l2.UnstageItem{Key: key, TTL: long})
	return got
}

// wantQueued checks that key has the queued value v with number seq, and
// that the key's value is v too; nil v: nothing is queued, and seq is
// the number remembered.
func wantQueued(t *testing.T, s l2.Store, st l2.Stager, key string, v []byte, seq uint64) {
	t.Helper()
	want := l2.Staged{Seq: seq}
	if v != nil {
		want = queuedAs(v, seq, false)
		wantValue(t, s, key, v)
	}
	checkStaged(t, fmt.Sprintf("the queued value of %q", key), peek(t, st, key), want)
}

// unstage calls Unstage and fails t on an error.
func unstage(t *testing.T, st l2.Stager, token l2.Token, items ...l2.UnstageItem) {
	t.Helper()
	if err := st.Unstage(t.Context(), token, items); err != nil {
		t.Fatalf("Unstage(token %s, %d items): %v", tokName(token), len(items), err)
	}
}

// done returns the Unstage item of key's queued value number seq, whose
// value then lives ttl.
func done(key string, seq uint64, ttl time.Duration) l2.UnstageItem {
	return l2.UnstageItem{Key: key, Seq: seq, TTL: ttl}
}

func testStage(t *testing.T, h Harness) {
	s, st := newOptional[l2.Stager](t, h)

	t.Run("Stores", func(t *testing.T) {
		v := []byte("v")
		wantStage(t, st, "k", v, 0, 1)
		wantValue(t, s, "k", v)
		wantSlots(t, []string{"k", "absent"}, mustGetMany(t, s, []string{"k", "absent"}), [][]byte{v, nil})
		wantQueued(t, s, st, "k", v, 1)

		// It replaces a value, whatever the value.
		mustSet(t, s, "present", []byte("old"), long)
		wantStage(t, st, "present", v, 7, 7)
		wantQueued(t, s, st, "present", v, 7)

		// Empty and nil values are values: Claim returns them non-nil.
		wantStage(t, st, "empty", []byte{}, 0, 1)
		wantQueued(t, s, st, "empty", []byte{}, 1)
		wantStage(t, st, "nil", nil, 0, 1)
		wantQueued(t, s, st, "nil", []byte{}, 1)
		bin := []byte("\x00\xff\r\n{}q00000000000000000001")
		wantStage(t, st, "bin\x00{}", bin, 3, 3)
		wantQueued(t, s, st, "bin\x00{}", bin, 3)

		// Nothing queued: no value, number 0, not busy.
		checkStaged(t, "Claim of a key never staged", peek(t, st, "never"), l2.Staged{})
		wantMiss(t, s, "never")
	})

	t.Run("SeqOrder", func(t *testing.T) {
		// The steps run in order on one key; value is what it holds
		// after the step, seq its number.
		steps := []struct {
			name      string
			value     []byte
			seq, want uint64
			holds     string
			holdsSeq  uint64
		}{
			{"First", []byte("a"), 10, 10, "a", 10},
			{"Older", []byte("b"), 5, 0, "a", 10},
			{"Equal", []byte("c"), 10, 0, "a", 10},
			{"Newer", []byte("d"), 11, 11, "d", 11},
			{"Next", []byte("e"), 0, 12, "e", 12},
			{"NextAgain", []byte("f"), 0, 13, "f", 13},
			{"TakenByNext", []byte("g"), 13, 0, "f", 13},
			{"Jump", []byte("h"), 1000, 1000, "h", 1000},
			{"OlderThanJump", []byte("i"), 999, 0, "h", 1000},
		}
		for _, step := range steps {
			got := stage(t, st, l2.StageItem{Key: "order", Value: step.value, Seq: step.seq})[0]
			if got != step.want {
				t.Errorf("%s: Stage(order, %q, seq %d) = %d, want %d", step.name, step.value, step.seq, got, step.want)
			}
			wantQueued(t, s, st, "order", []byte(step.holds), step.holdsSeq)
		}
	})

	t.Run("LargeSeq", func(t *testing.T) {
		// Numbers beyond 2^53 round-trip exactly, are ordered exactly,
		// and a Seq of 0 adds exactly 1 to them.
		tests := []struct {
			name string
			seq  uint64
		}{
			{"QueueSized", bigSeq},
			{"TwoPow53", 1 << 53},
			{"TwoPow63", 1 << 63},
			{"Carries", 1999999999999999999},
			{"MaxMinusOne", math.MaxUint64 - 1},
		}
		for _, tc := range tests {
			key := "large:" + tc.name
			wantStage(t, st, key, []byte("a"), tc.seq, tc.seq)
			wantQueued(t, s, st, key, []byte("a"), tc.seq)
			wantStage(t, st, key, []byte("b"), tc.seq-1, 0)
			wantStage(t, st, key, []byte("c"), tc.seq, 0)
			wantStage(t, st, key, []byte("d"), 0, tc.seq+1)
			wantQueued(t, s, st, key, []byte("d"), tc.seq+1)
		}
		wantStage(t, st, "large:Max", []byte("a"), math.MaxUint64, math.MaxUint64)
		wantStage(t, st, "large:Max", []byte("b"), math.MaxUint64, 0)
		wantQueued(t, s, st, "large:Max", []byte("a"), math.MaxUint64)

		// Numbers of other lengths compare by value, not as text.
		for _, seqs := range [][2]uint64{{9, 10}, {99, 100}, {bigSeq - 1, bigSeq}, {1 << 53, 1<<53 + 1}} {
			key := fmt.Sprint("large:", seqs[0])
			wantStage(t, st, key, []byte("a"), seqs[1], seqs[1])
			wantStage(t, st, key, []byte("b"), seqs[0], 0)
			wantQueued(t, s, st, key, []byte("a"), seqs[1])
		}
		wantStage(t, st, "large:next", []byte("a"), 9, 9)
		wantStage(t, st, "large:next", []byte("b"), 0, 10)
		wantStage(t, st, "large:next", []byte("c"), 9, 0)
		wantQueued(t, s, st, "large:next", []byte("b"), 10)
	})

	t.Run("RemembersAfterUnstage", func(t *testing.T) {
		v := []byte("v")
		wantStage(t, st, "r", v, bigSeq, bigSeq)
		wantClaim(t, st, "r", tokA, queuedAs(v, bigSeq, false))
		unstage(t, st, tokA, done("r", bigSeq, long))
		wantQueued(t, s, st, "r", nil, bigSeq)
		wantValue(t, s, "r", v) // with TTL long now
		// A late Stage of the same or an older write changes nothing.
		wantStage(t, st, "r", []byte("late"), bigSeq-1, 0)
		wantStage(t, st, "r", []byte("late"), bigSeq, 0)
		wantValue(t, s, "r", v)
		wantQueued(t, s, st, "r", nil, bigSeq)
		// Nor after the value went.
		mustDelete(t, s, "r")
		wantStage(t, st, "r", []byte("late"), bigSeq-1, 0)
		wantMiss(t, s, "r")
		// A Seq of 0 follows the remembered number.
		wantStage(t, st, "r", []byte("next"), 0, bigSeq+1)
		wantQueued(t, s, st, "r", []byte("next"), bigSeq+1)
	})

	t.Run("EndsLease", func(t *testing.T) {
		v := []byte("v")
		wantLease(t, st, "leased", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, st, "leased", nil, tokB, l2.LeaseHeld, nil) // marks A's lease waited
		wantStage(t, st, "leased", v, 0, 1)
		// The holder's load is refused, and its lease is gone, mark and
		// all.
		wantSetLeased(t, st, "leased", tokA, nil, []byte("stale"), false)
		wantReleased(t, st, "leased", tokA, false)
		wantValue(t, s, "leased", v)
		// Once the write is in the source, nobody holds the lease.
		wantClaim(t, st, "leased", tokA, queuedAs(v, 1, false))
		unstage(t, st, tokA, done("leased", 1, long))
		wantLease(t, st, "leased", v, tokB, l2.LeaseGranted, nil)

		// A lease held at the Stage of another key stays.
		wantLease(t, st, "bystander", nil, tokA, l2.LeaseGranted, nil)
		wantStage(t, st, "bystander2", v, 0, 1)
		wantLease(t, st, "bystander", nil, tokB, l2.LeaseHeld, nil)
	})

	t.Run("Copies", func(t *testing.T) {
		buf := []byte("queued")
		wantStage(t, st, "copy", buf, 0, 1)
		copy(buf, "XXXXXX") // the caller reuses its buffer after Stage
		wantQueued(t, s, st, "copy", []byte("queued"), 1)
		got := peek(t, st, "copy")
		copy(got.Value, "YYYYYY") // what Claim returns is the caller's
		wantQueued(t, s, st, "copy", []byte("queued"), 1)
		state, cur := leaseFor(t, st, "copy", nil, tokB, long)
		checkLease(t, "Lease(copy)", state, cur, l2.LeaseChanged, []byte("queued"))
		copy(cur, "ZZZZZZ") // and what Lease returns
		wantQueued(t, s, st, "copy", []byte("queued"), 1)
	})

	t.Run("KeyFraming", func(t *testing.T) {
		// Keys whose queued values and claims a store would confuse with
		// each other, with values or with leases if it framed them
		// naively (Redis keeps "{tc:a}:queued" and "{tc:a}:claim").
		keys := []string{
			"f", "f:queued", "f}:queued", "f:claim", "f}:claim", "f}", "{f}", ":queued", ":claim",
			"", "{}", "}", "f:lease", "f}:lease", "{f}:queued", "F",
		}
		for i, k := range keys {
			wantStage(t, st, k, fmt.Appendf(nil, "value %d", i), uint64(i+1), uint64(i+1))
		}
		res := claim(t, st, tokA, long, keys...)
		for i, k := range keys {
			checkStaged(t, fmt.Sprintf("Claim(%q)", k), res[i], queuedAs(fmt.Appendf(nil, "value %d", i), uint64(i+1), false))
			wantValue(t, s, k, fmt.Appendf(nil, "value %d", i))
		}
		// Values and leases of the same names are no queued values.
		for _, k := range []string{"g", "g:queued", "g}:claim"} {
			mustSet(t, s, k, []byte("plain"), long)
			checkStaged(t, fmt.Sprintf("Claim(%q) of a plain value", k), peek(t, st, k), l2.Staged{})
		}
	})

	t.Run("Views", func(t *testing.T) {
		v1, v2 := views(t, s)
		st1, st2 := as[l2.Stager](t, v1), as[l2.Stager](t, v2)
		wantStage(t, st1, "vk", []byte("one"), 5, 5)
		wantValue(t, v1, "vk", []byte("one"))
		// Key vk of the view is key v1:vk of the store.
		wantQueued(t, s, st, "v1:vk", []byte("one"), 5)
		wantStage(t, st, "v1:vk", []byte("older"), 4, 0)
		checkStaged(t, "v2's Claim(vk)", peek(t, st2, "vk"), l2.Staged{})
		checkStaged(t, "the store's Claim(vk)", peek(t, st, "vk"), l2.Staged{})
		wantMiss(t, v2, "vk")

		// One claim, whichever way it is asked for.
		wantClaim(t, st1, "vk", tokA, queuedAs([]byte("one"), 5, false))
		wantClaim(t, st, "v1:vk", tokB, queuedAs([]byte("one"), 5, true))
		unstage(t, st, tokA, done("v1:vk", 5, long))
		wantQueued(t, v1, st1, "vk", nil, 5)
		wantLease(t, st1, "vk", []byte("one"), tokB, l2.LeaseGranted, nil)
	})

	t.Run("Empty", func(t *testing.T) {
		ctx := t.Context()
		if seqs, err := st.Stage(ctx, nil); err != nil || len(seqs) != 0 {
			t.Errorf("Stage(no items) = %v, %v; want no numbers", seqs, err)
		}
		if res, err := st.Claim(ctx, tokA, long, nil); err != nil || len(res) != 0 {
			t.Errorf("Claim(no keys) = %v, %v; want no answers", res, err)
		}
		if err := st.Unstage(ctx, tokA, nil); err != nil {
			t.Errorf("Unstage(no items): %v", err)
		}
	})

	t.Run("TTLNotPositive", func(t *testing.T) {
		v := []byte("v")
		wantStage(t, st, "ttl", v, 0, 1)
		for _, ttl := range []time.Duration{0, -time.Second} {
			if res, err := st.Claim(t.Context(), tokA, ttl, []string{"ttl"}); err == nil {
				t.Errorf("Claim with TTL %v = %v, no error", ttl, res)
			}
			wantClaim(t, st, "ttl", tokB, queuedAs(v, 1, false)) // A got nothing
		}
		// Unstage of number 0 ends the caller's claim only; its TTL is
		// not used.
		unstage(t, st, tokB, l2.UnstageItem{Key: "ttl"})
		wantQueued(t, s, st, "ttl", v, 1)
		// Unstage with a TTL that is not positive removes the value
		// when it is still the queued one, and the queued value.
		for i, ttl := range []time.Duration{0, -time.Second} {
			key := fmt.Sprint("ttl:", i)
			wantStage(t, st, key, v, 0, 1)
			wantStage(t, st, key+":other", v, 0, 1)
			mustSet(t, s, key+":other", []byte("other"), long)
			unstage(t, st, tokA, done(key, 1, ttl), done(key+":other", 1, ttl))
			wantMiss(t, s, key)
			wantQueued(t, s, st, key, nil, 1)
			wantValue(t, s, key+":other", []byte("other"))
			wantQueued(t, s, st, key+":other", nil, 1)
		}
	})
}

// testStageLease checks that Lease never grants the lease of a key with a
// queued value, and puts the queued value back as the key's value.
func testStageLease(t *testing.T, h Harness) {
	s, st := newOptional[l2.Stager](t, h)
	v := []byte("queued")

	t.Run("NeverGranted", func(t *testing.T) {
		wantStage(t, st, "k", v, 0, 1)
		for _, old := range [][]byte{nil, v, []byte("other"), {}} {
			wantLease(t, st, "k", old, tokA, l2.LeaseChanged, v)
			wantLease(t, st, "k", old, tokB, l2.LeaseChanged, v)
		}
		wantValue(t, s, "k", v)
		// Nobody was marked waited or granted: once unstaged, the lease
		// is free.
		wantClaim(t, st, "k", tokC, queuedAs(v, 1, false))
		unstage(t, st, tokC, done("k", 1, long))
		wantLease(t, st, "k", v, tokA, l2.LeaseGranted, nil)
		wantSetLeased(t, st, "k", tokA, v, []byte("loaded"), true)
		wantValue(t, s, "k", []byte("loaded"))
	})

	t.Run("Deleted", func(t *testing.T) {
		wantStage(t, st, "deleted", v, 0, 1)
		mustDelete(t, s, "deleted")
		wantMiss(t, s, "deleted")
		wantLease(t, st, "deleted", nil, tokA, l2.LeaseChanged, v)
		wantValue(t, s, "deleted", v)
		wantLease(t, st, "deleted", nil, tokB, l2.LeaseChanged, v)
	})

	t.Run("Tombstone", func(t *testing.T) {
		tomb := []byte("tombstone")
		wantStage(t, st, "tomb", v, 0, 1)
		mustRevoke(t, st, []l2.Item{item("tomb", tomb)})
		wantValue(t, s, "tomb", tomb)
		wantLease(t, st, "tomb", tomb, tokA, l2.LeaseChanged, v)
		wantValue(t, s, "tomb", v)
		wantQueued(t, s, st, "tomb", v, 1)
	})

	t.Run("Overwritten", func(t *testing.T) {
		wantStage(t, st, "set", v, 0, 1)
		mustSet(t, s, "set", []byte("other"), long)
		wantLease(t, st, "set", []byte("other"), tokA, l2.LeaseChanged, v)
		wantValue(t, s, "set", v)

		// Conditional writes compare with the value as usual.
		wantStage(t, st, "cond", v, 0, 1)
		if !mustSetIf(t, st, "cond", v, []byte("w"), long) {
			t.Error("SetIf(cond, old = the queued value) did not store")
		}
		wantValue(t, s, "cond", []byte("w"))
		wantLease(t, st, "cond", []byte("w"), tokA, l2.LeaseChanged, v)
		wantValue(t, s, "cond", v)
		wantSetLeased(t, st, "cond", tokB, v, []byte("x"), true)
		wantValue(t, s, "cond", []byte("x"))
		wantLease(t, st, "cond", []byte("x"), tokB, l2.LeaseChanged, v)
		wantValue(t, s, "cond", v)
	})

	t.Run("EmptyValue", func(t *testing.T) {
		wantStage(t, st, "empty", []byte{}, 0, 1)
		mustDelete(t, s, "empty")
		wantLease(t, st, "empty", nil, tokA, l2.LeaseChanged, []byte{})
		wantValue(t, s, "empty", []byte{})
	})

	t.Run("Batch", func(t *testing.T) {
		// Keys with and without queued values in one call; on a
		// cluster they spread over slots and nodes.
		keys := numbered("mixed:", 24)
		olds := make([][]byte, len(keys))
		want := make([]l2.LeaseAnswer, len(keys))
		var items []l2.StageItem
		for i, k := range keys {
			qv := fmt.Appendf(nil, "queued %d", i)
			switch i % 4 {
			case 0: // queued
				items = append(items, l2.StageItem{Key: k, Value: qv})
				want[i] = l2.LeaseAnswer{State: l2.LeaseChanged, Value: qv}
			case 1: // queued, its value deleted below
				items = append(items, l2.StageItem{Key: k, Value: qv})
				want[i] = l2.LeaseAnswer{State: l2.LeaseChanged, Value: qv}
			case 2: // absent
				want[i] = l2.LeaseAnswer{State: l2.LeaseGranted}
			case 3: // a plain value
				olds[i] = []byte("plain")
				mustSet(t, s, k, olds[i], long)
				want[i] = l2.LeaseAnswer{State: l2.LeaseGranted}
			}
		}
		for i, n := range stage(t, st, items...) {
			if n != 1 {
				t.Errorf("Stage(%q) = %d, want 1", items[i].Key, n)
			}
		}
		for i := 1; i < len(keys); i += 4 {
			mustDelete(t, s, keys[i])
		}
		wantLeaseAll(t, st, tokA, keys, olds, want)
		for i, k := range keys {
			switch i % 4 {
			case 0, 1:
				wantValue(t, s, k, want[i].Value)
			case 2:
				wantMiss(t, s, k)
			case 3:
				wantValue(t, s, k, olds[i])
			}
		}
	})

	t.Run("DeletePrefix", func(t *testing.T) {
		pd, ok := optional[l2.PrefixDeleter](t, s)
		if !ok {
			t.Skipf("%T does not declare %v", s, l2.Prefixes)
		}
		// DeletePrefix deletes values; queued values and claims outlive
		// it, and Lease serves them again.
		keys := []string{"dp:1", "dp:2", "dp:3"}
		for i, k := range keys {
			wantStage(t, st, k, []byte(k), uint64(i+1), uint64(i+1))
		}
		wantClaim(t, st, "dp:2", tokA, queuedAs([]byte("dp:2"), 2, false))
		wantKeys(t, `DeletePrefix("dp:")`, deletePrefix(t, pd, "dp:", 10), keys)
		wantGone(t, s, keys...)
		wantClaim(t, st, "dp:2", tokB, queuedAs([]byte("dp:2"), 2, true))
		wantClaim(t, st, "dp:1", tokB, queuedAs([]byte("dp:1"), 1, false))
		wantLease(t, st, "dp:3", nil, tokC, l2.LeaseChanged, []byte("dp:3"))
		wantValue(t, s, "dp:3", []byte("dp:3"))
		// A remembered number outlives it too.
		wantLease(t, st, "dp:1", nil, tokC, l2.LeaseChanged, []byte("dp:1"))
		unstage(t, st, tokB, done("dp:1", 1, long))
		if keys := deletePrefix(t, pd, "dp:1", 10); len(keys) != 1 {
			t.Errorf(`DeletePrefix("dp:1") deleted %q, want dp:1`, keys)
		}
		wantStage(t, st, "dp:1", []byte("late"), 1, 0)
		wantMiss(t, s, "dp:1")
	})
}

// testStageClaim checks claims and Unstage.
func testStageClaim(t *testing.T, h Harness) {
	s, st := newOptional[l2.Stager](t, h)
	v, v2 := []byte("v"), []byte("v2")

	t.Run("OneTokenAtATime", func(t *testing.T) {
		wantStage(t, st, "c", v, 7, 7)
		wantClaim(t, st, "c", tokA, queuedAs(v, 7, false))
		wantClaim(t, st, "c", tokB, queuedAs(v, 7, true))
		wantClaim(t, st, "c", tokA, queuedAs(v, 7, false)) // renewed
		wantClaim(t, st, "c", tokC, queuedAs(v, 7, true))

		// A newer write is queued while A flushes the older one: the
		// claim stays A's, and A's Unstage of the older number leaves
		// the newer value queued, and ends A's claim.
		wantStage(t, st, "c", v2, 8, 8)
		wantClaim(t, st, "c", tokB, queuedAs(v2, 8, true))
		unstage(t, st, tokA, done("c", 7, long))
		wantValue(t, s, "c", v2)
		wantClaim(t, st, "c", tokB, queuedAs(v2, 8, false))
		wantClaim(t, st, "c", tokA, queuedAs(v2, 8, true))
		unstage(t, st, tokB, done("c", 8, long))
		wantQueued(t, s, st, "c", nil, 8)
		wantValue(t, s, "c", v2)
		wantClaim(t, st, "c", tokA, l2.Staged{Seq: 8}) // nothing to claim
		wantLease(t, st, "c", v2, tokA, l2.LeaseGranted, nil)
	})

	t.Run("NothingQueued", func(t *testing.T) {
		// A Claim of a key with nothing queued claims nothing.
		wantClaim(t, st, "later", tokA, l2.Staged{})
		wantStage(t, st, "later", v, 0, 1)
		wantClaim(t, st, "later", tokB, queuedAs(v, 1, false))
	})

	t.Run("UnstageOfAnother", func(t *testing.T) {
		// Unstage ends the caller's claim only.
		wantStage(t, st, "other", v, 1, 1)
		wantClaim(t, st, "other", tokA, queuedAs(v, 1, false))
		unstage(t, st, tokB, done("other", 1, long))
		wantQueued(t, s, st, "other", nil, 1)
		wantStage(t, st, "other", v2, 0, 2)
		wantClaim(t, st, "other", tokB, queuedAs(v2, 2, true))
		unstage(t, st, tokA, done("other", 1, long)) // an old number: ends A's claim only
		wantClaim(t, st, "other", tokB, queuedAs(v2, 2, false))
	})

	t.Run("UnstageLeavesOtherValues", func(t *testing.T) {
		// The value was overwritten since the Stage: Unstage removes the
		// queued value and leaves the key's value alone.
		wantStage(t, st, "over", v, 1, 1)
		mustSet(t, s, "over", []byte("other"), long)
		unstage(t, st, tokA, done("over", 1, long))
		wantValue(t, s, "over", []byte("other"))
		wantQueued(t, s, st, "over", nil, 1)

		// The value was deleted: it stays deleted.
		wantStage(t, st, "gone", v, 1, 1)
		mustDelete(t, s, "gone")
		unstage(t, st, tokA, done("gone", 1, long))
		wantMiss(t, s, "gone")
		wantLease(t, st, "gone", nil, tokA, l2.LeaseGranted, nil)

		// A number that does not match changes nothing.
		wantStage(t, st, "mismatch", v, 5, 5)
		for _, seq := range []uint64{0, 4, 6, bigSeq} {
			unstage(t, st, tokA, done("mismatch", seq, long))
			wantQueued(t, s, st, "mismatch", v, 5)
		}
		// Nor on a key with nothing queued.
		unstage(t, st, tokA, done("never", 1, long))
		checkStaged(t, "Claim(never) after Unstage", peek(t, st, "never"), l2.Staged{})
		wantMiss(t, s, "never")
	})

	t.Run("Batch", func(t *testing.T) {
		// The same scenario with every key in one call and with one key
		// per call, on keys of their own.
		for _, batch := range []bool{true, false} {
			testStageBatchRun(t, s, st, batch)
		}
	})
}

// testStageBatchRun runs a scenario of Stage, Claim and Unstage on 40
// keys, all of them in one call when batch is set, else one per call.
func testStageBatchRun(t *testing.T, s l2.Store, st l2.Stager, batch bool) {
	t.Helper()
	prefix := "one:"
	if batch {
		prefix = "all:"
	}
	keys := numbered(prefix, 40)
	slices.Reverse(keys)
	what := func(op string) string {
		if batch {
			return op + " of all keys"
		}
		return op + " of one key per call"
	}
	// By i%4: i%4 < 2 had number 100 queued before; even i stage with
	// Seq 0, odd ones with 50.
	for i, k := range keys {
		if i%4 < 2 {
			wantStage(t, st, k, []byte("before"), 100, 100)
		}
	}
	items := make([]l2.StageItem, len(keys))
	wantSeq := make([]uint64, len(keys))
	queued := make([][]byte, len(keys))
	for i, k := range keys {
		items[i] = l2.StageItem{Key: k, Value: fmt.Appendf(nil, "value %d", i), Seq: 50}
		queued[i] = items[i].Value
		if i%2 == 0 {
			items[i].Seq = 0
		}
		switch i % 4 {
		case 0:
			wantSeq[i] = 101
		case 1:
			wantSeq[i], queued[i] = 0, []byte("before")
		case 2:
			wantSeq[i] = 1
		case 3:
			wantSeq[i] = 50
		}
	}
	var seqs []uint64
	if batch {
		seqs = stage(t, st, items...)
	} else {
		for _, it := range items {
			seqs = append(seqs, stage(t, st, it)[0])
		}
	}
	// The number each key holds.
	holds := slices.Clone(wantSeq)
	for i, n := range seqs {
		if n != wantSeq[i] {
			t.Errorf("%s: item %d (%q, seq %d) = %d, want %d", what("Stage"), i, keys[i], items[i].Seq, n, wantSeq[i])
		}
		if holds[i] == 0 {
			holds[i] = 100
		}
	}

	claimAll := func(token l2.Token, busy bool) {
		t.Helper()
		var res []l2.Staged
		if batch {
			res = claim(t, st, token, long, keys...)
		} else {
			for _, k := range keys {
				res = append(res, claim(t, st, token, long, k)[0])
			}
		}
		for i := range keys {
			checkStaged(t, fmt.Sprintf("%s: answer %d (%q)", what("Claim"), i, keys[i]), res[i], queuedAs(queued[i], holds[i], busy))
		}
	}
	claimAll(tokA, false)
	claimAll(tokB, true)

	// A flushed the even keys; the odd ones it unstages with an older
	// number, as if newer writes were queued meanwhile.
	flushed := make([]l2.UnstageItem, len(keys))
	for i, k := range keys {
		flushed[i] = done(k, holds[i], long)
		if i%2 == 1 {
			flushed[i].Seq--
		}
	}
	if batch {
		unstage(t, st, tokA, flushed...)
	} else {
		for _, it := range flushed {
			unstage(t, st, tokA, it)
		}
	}
	for i, k := range keys {
		if i%2 == 0 {
			wantQueued(t, s, st, k, nil, holds[i])
			wantValue(t, s, k, queued[i])
		} else {
			wantQueued(t, s, st, k, queued[i], holds[i])
		}
	}
	// Every claim of A ended: B claims the odd keys, which are queued
	// still.
	for i, k := range keys {
		want := l2.Staged{Seq: holds[i]}
		if i%2 == 1 {
			want = queuedAs(queued[i], holds[i], false)
		}
		wantClaim(t, st, k, tokB, want)
	}
}

// testStageTTL checks that a queued value has no expiry, that a claim
// lives its TTL, and that Unstage gives the value its TTL.
func testStageTTL(t *testing.T, h Harness) {
	s, st := newOptional[l2.Stager](t, h)
	v := []byte("v")
	short := shortTTL(h)

	start := time.Now()
	// Everything short-lived first: once the claim of "probe" has
	// expired, so has all of it.
	wantStage(t, st, "unstaged", v, 1, 1)
	unstage(t, st, tokA, done("unstaged", 1, short))
	wantStage(t, st, "overwritten", v, 1, 1)
	mustSet(t, s, "overwritten", []byte("other"), long)
	unstage(t, st, tokA, done("overwritten", 1, short))
	mustSet(t, s, "restored", []byte("other"), short)
	wantStage(t, st, "restored", v, 1, 1) // its value lives as long as it is queued
	mustSet(t, s, "leased", []byte("other"), short)
	wantStage(t, st, "leased", v, 1, 1)
	mustSet(t, s, "leased", []byte("other"), short)
	wantLease(t, st, "leased", []byte("other"), tokA, l2.LeaseChanged, v) // so does the value Lease puts back
	wantStage(t, st, "probe", v, 1, 1)
	res := claim(t, st, tokA, short, "probe")
	checkStaged(t, "Claim(probe, token A, TTL short)", res[0], queuedAs(v, 1, false))

	if h.Advance != nil {
		h.Advance(t, short-100*time.Millisecond)
		wantClaim(t, st, "probe", tokB, queuedAs(v, 1, true))
		wantValue(t, s, "unstaged", v)
		h.Advance(t, 200*time.Millisecond)
		wantClaim(t, st, "probe", tokB, queuedAs(v, 1, false))
	} else {
		// A claim proves nothing on a slow machine, but a claim before
		// the TTL ran out is a bug.
		if got := claim(t, st, tokB, long, "probe")[0]; !got.Busy && time.Since(start) < short {
			t.Errorf("Claim(probe, token B) claimed before the TTL of %v of A's claim", short)
		}
		waitClaimed(t, st, "probe", tokB)
		waitMiss(t, s, "unstaged")
	}
	wantMiss(t, s, "unstaged")
	wantLease(t, st, "unstaged", nil, tokC, l2.LeaseGranted, nil)
	wantValue(t, s, "overwritten", []byte("other"))
	wantValue(t, s, "restored", v)
	wantValue(t, s, "leased", v)

	if h.Advance == nil {
		return
	}
	// A queued value, and what Stage and Lease write, have no expiry.
	h.Advance(t, 2*long)
	wantValue(t, s, "restored", v)
	wantValue(t, s, "leased", v)
	wantQueued(t, s, st, "probe", v, 1)
	wantQueued(t, s, st, "restored", v, 1)
}

// waitClaimed polls Claim(key, token) until it is not busy, for stores on
// the real clock, and fails t after a deadline far beyond any TTL the
// suite waits for.
func waitClaimed(t *testing.T, st l2.Stager, key string, token l2.Token) {
	t.Helper()
	pollUntil(t, fmt.Sprintf("Claim(%q, token %s) still busy", key, tokName(token)), func() bool {
		return !claim(t, st, token, long, key)[0].Busy
	})
}

// testStageConcurrent checks that concurrent Stages of one key get
// distinct numbers, and that one of concurrent Claims gets the claim.
func testStageConcurrent(t *testing.T, h Harness) {
	s, st := newOptional[l2.Stager](t, h)
	const goroutines = 16
	token := func(g int) l2.Token { return tok(fmt.Sprint("token ", g)) }
	value := func(g int) []byte { return fmt.Appendf(nil, "value %d", g) }
	var wg sync.WaitGroup

	// Seq 0: each gets a number of its own, 1 to 16; the last one's
	// value is queued.
	seqs := make([]uint64, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			n, err := st.Stage(t.Context(), []l2.StageItem{{Key: "next", Value: value(g)}})
			if err != nil || len(n) != 1 {
				t.Errorf("goroutine %d: Stage = %v, %v", g, n, err)
				return
			}
			seqs[g] = n[0]
		})
	}
	wg.Wait()
	last := slices.Index(seqs, goroutines)
	if order := slices.Sorted(slices.Values(seqs)); last < 0 || order[0] != 1 || len(slices.Compact(order)) != goroutines {
		t.Fatalf("Stage with Seq 0 from %d goroutines = %v, want the numbers 1 to %d", goroutines, seqs, goroutines)
	}
	wantQueued(t, s, st, "next", value(last), goroutines)

	// Given numbers, in any order: the largest wins.
	for g := range goroutines {
		wg.Go(func() {
			seq := uint64(g+1) + bigSeq
			n, err := st.Stage(t.Context(), []l2.StageItem{{Key: "given", Value: value(g), Seq: seq}})
			if err != nil || len(n) != 1 || (n[0] != 0 && n[0] != seq) {
				t.Errorf("goroutine %d: Stage(seq %d) = %v, %v", g, seq, n, err)
			}
		})
	}
	wg.Wait()
	wantQueued(t, s, st, "given", value(goroutines-1), bigSeq+goroutines)

	// One claim.
	busy := make([]bool, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			res, err := st.Claim(t.Context(), token(g), long, []string{"given"})
			if err != nil || len(res) != 1 || !bytes.Equal(res[0].Value, value(goroutines-1)) {
				t.Errorf("goroutine %d: Claim = %v, %v", g, res, err)
				return
			}
			busy[g] = res[0].Busy
		})
	}
	wg.Wait()
	if n := goroutines - trues(busy); n != 1 {
		t.Errorf("%d of %d goroutines got the claim, want 1", n, goroutines)
	}
}

// testStageCanceledContext requires an error from every operation of
// l2.Stager given a canceled context, and that none of them happened.
func testStageCanceledContext(t *testing.T, h Harness) {
	s, st := newOptional[l2.Stager](t, h)
	v := []byte("v")
	wantStage(t, st, "k", v, 1, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	if n, err := st.Stage(ctx, []l2.StageItem{{Key: "k2", Value: v}}); err == nil {
		t.Errorf("Stage(k2) = %v, no error", n)
	}
	if n, err := st.Stage(ctx, []l2.StageItem{{Key: "k", Value: []byte("w")}, {Key: "k2", Value: v}}); err == nil {
		t.Errorf("Stage(k, k2) = %v, no error", n)
	}
	if res, err := st.Claim(ctx, tokA, long, []string{"k"}); err == nil {
		t.Errorf("Claim(k) = %v, no error", res)
	}
	if res, err := st.Claim(ctx, tokA, long, []string{"k", "k2"}); err == nil {
		t.Errorf("Claim(k, k2) = %v, no error", res)
	}
	if err := st.Unstage(ctx, tokA, []l2.UnstageItem{done("k", 1, long)}); err == nil {
		t.Error("Unstage(k): no error")
	}

	wantMiss(t, s, "k2")
	checkStaged(t, "Claim(k2)", peek(t, st, "k2"), l2.Staged{})
	wantClaim(t, st, "k", tokB, queuedAs(v, 1, false)) // A claimed nothing; k is queued still
}

// trues returns how many of bs are true.
func trues(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
