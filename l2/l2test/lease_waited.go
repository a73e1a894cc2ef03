package l2test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// The tests of the waited mark of l2.Leaser: when Lease answers LeaseHeld,
// the lease is marked, and its holder's SetLeased and Release say so.

// wantSetLeasedResult calls SetLeased for one item and checks its result.
func wantSetLeasedResult(t *testing.T, ls l2.Leaser, token l2.Token, it l2.CondItem, want l2.LeaseResult) {
	t.Helper()
	if got := setLeased(t, ls, token, it); got != want {
		t.Errorf("SetLeased(%q, token %s, old %q) = %+v, want %+v", it.Key, tokName(token), it.Old, got, want)
	}
}

func testLeaseWaited(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v, w := []byte("v"), []byte("w")
	stored := l2.LeaseResult{Stored: true}
	storedWaited := l2.LeaseResult{Stored: true, Waited: true}

	t.Run("NoContention", func(t *testing.T) {
		wantLease(t, ls, "alone", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "alone", nil, tokA, l2.LeaseGranted, nil) // its holder again
		wantSetLeasedResult(t, ls, tokA, cond("alone", nil, v), stored)
		wantLease(t, ls, "alone:release", nil, tokA, l2.LeaseGranted, nil)
		wantReleased(t, ls, "alone:release", tokA, false)

		// A LeaseChanged answer marks nothing: that caller has a value.
		mustSet(t, s, "changed", v, long)
		wantLease(t, ls, "changed", v, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "changed", []byte("other"), tokB, l2.LeaseChanged, v)
		wantLease(t, ls, "changed", nil, tokB, l2.LeaseChanged, v)
		wantSetLeasedResult(t, ls, tokA, cond("changed", v, w), stored)
	})

	t.Run("Held", func(t *testing.T) {
		wantLease(t, ls, "held", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "held", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "held", nil, tokC, l2.LeaseHeld, nil) // a second waiter
		wantSetLeasedResult(t, ls, tokA, cond("held", nil, v), storedWaited)
		// The mark ended with the lease: the next one starts unmarked.
		wantLease(t, ls, "held", v, tokB, l2.LeaseGranted, nil)
		wantSetLeasedResult(t, ls, tokB, cond("held", v, w), stored)

		// Release says it too, once.
		wantLease(t, ls, "released", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "released", nil, tokB, l2.LeaseHeld, nil)
		wantReleased(t, ls, "released", tokA, true)
		wantReleased(t, ls, "released", tokA, false)
		wantLease(t, ls, "released", nil, tokB, l2.LeaseGranted, nil)
		wantReleased(t, ls, "released", tokB, false)

		// On a key that holds a value too.
		mustSet(t, s, "held-present", v, long)
		wantLease(t, ls, "held-present", v, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "held-present", v, tokB, l2.LeaseHeld, nil)
		wantSetLeasedResult(t, ls, tokA, cond("held-present", v, w), storedWaited)
		wantValue(t, s, "held-present", w)
	})

	t.Run("RegrantKeepsMark", func(t *testing.T) {
		wantLease(t, ls, "regrant", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "regrant", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "regrant", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "regrant", nil, tokA, l2.LeaseGranted, nil)
		wantSetLeasedResult(t, ls, tokA, cond("regrant", nil, v), storedWaited)

		wantLease(t, ls, "regrant:release", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "regrant:release", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "regrant:release", nil, tokA, l2.LeaseGranted, nil)
		wantReleased(t, ls, "regrant:release", tokA, true)
	})

	t.Run("NotStored", func(t *testing.T) {
		// The key changed under the lease: the holder stores nothing, but
		// its lease ends, and the waiters are to be told.
		wantLease(t, ls, "tomb", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "tomb", nil, tokB, l2.LeaseHeld, nil)
		mustSet(t, s, "tomb", []byte("tombstone"), long)
		wantSetLeasedResult(t, ls, tokA, cond("tomb", nil, v), l2.LeaseResult{Waited: true})
		wantValue(t, s, "tomb", []byte("tombstone"))
	})

	t.Run("OtherToken", func(t *testing.T) {
		// Another token's SetLeased and Release end neither the lease
		// nor its mark, and report no waiter.
		wantLease(t, ls, "other", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "other", nil, tokB, l2.LeaseHeld, nil)
		wantSetLeasedResult(t, ls, tokB, cond("other", nil, w), l2.LeaseResult{})
		wantReleased(t, ls, "other", tokC, false)
		wantReleased(t, ls, "other", tok("token"), false)
		wantSetLeasedResult(t, ls, tokA, cond("other", nil, v), storedWaited)
		wantValue(t, s, "other", v)
	})

	t.Run("Revoke", func(t *testing.T) {
		tomb := []byte("tombstone")
		wantLease(t, ls, "revoked", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "revoked", nil, tokB, l2.LeaseHeld, nil)
		mustRevoke(t, ls, []l2.Item{item("revoked", tomb)})
		// The lease is gone, mark and all: its old holder is told
		// nothing, and a new lease starts unmarked.
		wantSetLeasedResult(t, ls, tokA, cond("revoked", nil, v), l2.LeaseResult{})
		wantLease(t, ls, "revoked", tomb, tokC, l2.LeaseGranted, nil)
		wantSetLeasedResult(t, ls, tokC, cond("revoked", tomb, w), stored)

		// The old holder's new lease too.
		wantLease(t, ls, "revoked:again", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "revoked:again", nil, tokB, l2.LeaseHeld, nil)
		mustRevoke(t, ls, []l2.Item{item("revoked:again", tomb)})
		wantLease(t, ls, "revoked:again", tomb, tokA, l2.LeaseGranted, nil)
		wantSetLeasedResult(t, ls, tokA, cond("revoked:again", tomb, w), stored)

		wantLease(t, ls, "revoked:release", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "revoked:release", nil, tokB, l2.LeaseHeld, nil)
		mustRevoke(t, ls, []l2.Item{item("revoked:release", tomb)})
		wantReleased(t, ls, "revoked:release", tokA, false)
		wantLease(t, ls, "revoked:release", tomb, tokA, l2.LeaseGranted, nil)
		wantReleased(t, ls, "revoked:release", tokA, false)
	})

	t.Run("Views", func(t *testing.T) {
		v1, _ := views(t, s)
		l1 := as[l2.Leaser](t, v1)
		// Key k of the view is key v1:k of the store: one lease, one mark.
		wantLease(t, l1, "k", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "v1:k", nil, tokB, l2.LeaseHeld, nil)
		wantSetLeasedResult(t, l1, tokA, cond("k", nil, v), storedWaited)
		wantLease(t, ls, "v1:r", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, l1, "r", nil, tokB, l2.LeaseHeld, nil)
		wantReleased(t, ls, "v1:r", tokA, true)
	})
}

// testLeaseWaitedBatch checks the waited mark over keys of many slots, in
// calls of many keys: each key answers for itself.
func testLeaseWaitedBatch(t *testing.T, h Harness) {
	_, ls := newOptional[l2.Leaser](t, h)
	const n = 60
	keys := numbered("k", n)
	slices.Reverse(keys)
	wantLeaseAll(t, ls, tokA, keys, make([][]byte, n), answers(n, l2.LeaseGranted))

	// B asks for every third key and for keys of its own, in one call: it
	// waits for A's, and gets its own, unmarked. C asks for the next ones
	// with an old value: changed, which marks nothing.
	var bKeys, cKeys []string
	var bWant []l2.LeaseAnswer
	waited := make([]bool, n)
	for i, k := range keys {
		switch i % 3 {
		case 0:
			bKeys = append(bKeys, k, "b:"+k)
			bWant = append(bWant, l2.LeaseAnswer{State: l2.LeaseHeld}, l2.LeaseAnswer{State: l2.LeaseGranted})
			waited[i] = true
		case 1:
			cKeys = append(cKeys, k)
		}
	}
	wantLeaseAll(t, ls, tokB, bKeys, make([][]byte, len(bKeys)), bWant)
	cOlds := slices.Repeat([][]byte{[]byte("x")}, len(cKeys))
	wantLeaseAll(t, ls, tokC, cKeys, cOlds, answers(len(cKeys), l2.LeaseChanged))

	// A stores the first half and releases the second, the first key
	// twice: only the first Release of it ends the lease.
	half := n / 2
	items := make([]l2.CondItem, half)
	for i, k := range keys[:half] {
		items[i] = cond(k, nil, []byte("value of "+k))
	}
	for i, res := range setLeasedAll(t, ls, tokA, items) {
		if want := (l2.LeaseResult{Stored: true, Waited: waited[i]}); res != want {
			t.Errorf("SetLeased(token A) item %d (%q) = %+v, want %+v", i, items[i].Key, res, want)
		}
	}
	release := append(slices.Clone(keys[half:]), keys[half])
	wantWaited := append(slices.Clone(waited[half:]), false)
	got := mustReleaseAll(t, ls, tokA, release...)
	for i := range release {
		if got[i] != wantWaited[i] {
			t.Errorf("Release(token A) key %d (%q) waited = %v, want %v", i, release[i], got[i], wantWaited[i])
		}
	}

	// B's own leases were never refused.
	var own []string
	for i, k := range keys {
		if i%3 == 0 {
			own = append(own, "b:"+k)
		}
	}
	if i := slices.Index(mustReleaseAll(t, ls, tokB, own...), true); i >= 0 {
		t.Errorf("Release(token B) says that somebody waited for %q", own[i])
	}
}

// testLeaseWaitedTTL checks that the mark ends with its lease when the
// lease expires: a lease granted after that starts unmarked.
func testLeaseWaitedTTL(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v := []byte("v")
	short := shortTTL(h)
	for _, k := range []string{"taken", "again", "released"} {
		st, cur := leaseFor(t, ls, k, nil, tokA, short)
		checkLease(t, fmt.Sprintf("Lease(%q, token A, TTL %v)", k, short), st, cur, l2.LeaseGranted, nil)
		wantLease(t, ls, k, nil, tokB, l2.LeaseHeld, nil)
	}
	// Written after the leases, so that once it is gone they have expired.
	mustSet(t, s, "probe", v, short)
	if h.Advance != nil {
		h.Advance(t, short+100*time.Millisecond)
	} else {
		waitMiss(t, s, "probe")
	}

	// Another token takes an expired lease: unmarked.
	wantLease(t, ls, "taken", nil, tokC, l2.LeaseGranted, nil)
	wantSetLeasedResult(t, ls, tokC, cond("taken", nil, v), l2.LeaseResult{Stored: true})
	// Its old holder takes it again: a new lease, unmarked too.
	wantLease(t, ls, "again", nil, tokA, l2.LeaseGranted, nil)
	wantSetLeasedResult(t, ls, tokA, cond("again", nil, v), l2.LeaseResult{Stored: true})
	// Nobody took it: its holder releases nothing, and learns nothing.
	wantReleased(t, ls, "released", tokA, false)
}
