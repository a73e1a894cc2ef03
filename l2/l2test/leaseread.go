package l2test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// The tests of l2.LeaseReader (lease.go of l2): GetLease, a read that
// takes the lease of a key that holds no value.

// getLease calls GetLease and fails t on an error.
func getLease(t *testing.T, lr l2.LeaseReader, key string, token l2.Token, ttl time.Duration) ([]byte, bool) {
	t.Helper()
	v, granted, err := lr.GetLease(t.Context(), key, token, ttl)
	if err != nil {
		t.Fatalf("GetLease(%q, token %s, TTL %v): %v", key, tokName(token), ttl, err)
	}
	return v, granted
}

// checkGetLease checks what GetLease returned against want, where nil is
// no value and a non-nil slice (possibly empty) a value, and wantGranted.
func checkGetLease(t *testing.T, what string, v []byte, granted bool, want []byte, wantGranted bool) {
	t.Helper()
	switch {
	case want == nil && v != nil:
		t.Errorf("%s = %q, %v; want no value (nil), granted %v", what, v, granted, wantGranted)
	case want != nil && v == nil:
		t.Errorf("%s = nil (no value), %v; want %q, granted %v", what, granted, want, wantGranted)
	case !bytes.Equal(v, want):
		t.Errorf("%s = %q, %v; want %q, granted %v", what, v, granted, want, wantGranted)
	case granted != wantGranted:
		t.Errorf("%s granted = %v, want %v (value %q)", what, granted, wantGranted, v)
	}
}

// wantGetLease calls GetLease with TTL long and checks what it returns
// (see checkGetLease).
func wantGetLease(t *testing.T, lr l2.LeaseReader, key string, token l2.Token, want []byte, wantGranted bool) {
	t.Helper()
	v, granted := getLease(t, lr, key, token, long)
	checkGetLease(t, fmt.Sprintf("GetLease(%q, token %s)", key, tokName(token)), v, granted, want, wantGranted)
}

// waitGetLeaseGranted polls GetLease(key, token) until it is granted, for
// stores on the real clock, and fails t after a deadline far beyond any
// TTL the suite waits for.
func waitGetLeaseGranted(t *testing.T, lr l2.LeaseReader, key string, token l2.Token) {
	t.Helper()
	pollUntil(t, fmt.Sprintf("GetLease(%q, token %s) still not granted", key, tokName(token)), func() bool {
		v, granted := getLease(t, lr, key, token, long)
		if v != nil {
			t.Fatalf("GetLease(%q, token %s) = %q, %v while waiting for the lease", key, tokName(token), v, granted)
		}
		return granted
	})
}

func testLeaseRead(t *testing.T, h Harness) {
	s, lr := newOptional[l2.LeaseReader](t, h)
	v, w := []byte("v"), []byte("w")
	stored := l2.LeaseResult{Stored: true}
	storedWaited := l2.LeaseResult{Stored: true, Waited: true}

	t.Run("Absent", func(t *testing.T) {
		wantGetLease(t, lr, "absent", tokA, nil, true)
		wantMiss(t, s, "absent") // a lease is no value
		wantSlots(t, []string{"absent"}, mustGetMany(t, s, []string{"absent"}), [][]byte{nil})
		wantGetLease(t, lr, "absent", tokA, nil, true) // its holder again
		wantGetLease(t, lr, "absent", tokB, nil, false)
		wantMiss(t, s, "absent")
	})

	t.Run("Present", func(t *testing.T) {
		for i, val := range [][]byte{v, {}, []byte("\x00\xff\r\n{}\x00")} {
			key := fmt.Sprint("present:", i)
			mustSet(t, s, key, val, long)
			wantGetLease(t, lr, key, tokA, val, false)
			wantGetLease(t, lr, key, tokA, val, false)
			// What GetLease returns belongs to the caller.
			if got, _ := getLease(t, lr, key, tokA, long); len(got) > 0 {
				copy(got, bytes.Repeat([]byte("X"), len(got)))
			}
			wantValue(t, s, key, val)
			// No lease was taken: another token's Lease is answered by
			// the value, and granted against it.
			wantLease(t, lr, key, nil, tokB, l2.LeaseChanged, val)
			wantLease(t, lr, key, val, tokB, l2.LeaseGranted, nil)
			// A lease held while the key holds a value: GetLease reads it.
			wantGetLease(t, lr, key, tokC, val, false)
			wantSetLeasedResult(t, lr, tokB, cond(key, val, w), stored)
			wantGetLease(t, lr, key, tokC, w, false)
		}
	})

	t.Run("LeaseHeld", func(t *testing.T) {
		// Lease treats a lease of GetLease as any lease.
		wantGetLease(t, lr, "held", tokA, nil, true)
		wantLease(t, lr, "held", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, lr, "held", nil, tokA, l2.LeaseGranted, nil) // its holder
		wantSetLeasedResult(t, lr, tokA, cond("held", nil, v), storedWaited)
		wantValue(t, s, "held", v)
		wantGetLease(t, lr, "held", tokB, v, false)

		// And GetLease a lease of Lease.
		wantLease(t, lr, "leased", nil, tokA, l2.LeaseGranted, nil)
		wantGetLease(t, lr, "leased", tokB, nil, false)
		wantGetLease(t, lr, "leased", tokA, nil, true)
		wantSetLeasedResult(t, lr, tokA, cond("leased", nil, v), stored)
	})

	t.Run("NotMarked", func(t *testing.T) {
		// GetLease refused marks nothing: the holder learns of no waiter.
		wantGetLease(t, lr, "unmarked", tokA, nil, true)
		wantGetLease(t, lr, "unmarked", tokB, nil, false)
		wantGetLease(t, lr, "unmarked", tokC, nil, false)
		wantSetLeasedResult(t, lr, tokA, cond("unmarked", nil, v), stored)
		wantValue(t, s, "unmarked", v)

		wantGetLease(t, lr, "unmarked:release", tokA, nil, true)
		wantGetLease(t, lr, "unmarked:release", tokB, nil, false)
		wantReleased(t, lr, "unmarked:release", tokA, false)
	})

	t.Run("RegrantKeepsMark", func(t *testing.T) {
		wantGetLease(t, lr, "regrant", tokA, nil, true)
		wantLease(t, lr, "regrant", nil, tokB, l2.LeaseHeld, nil) // marks it
		wantGetLease(t, lr, "regrant", tokA, nil, true)
		wantGetLease(t, lr, "regrant", tokB, nil, false)
		wantSetLeasedResult(t, lr, tokA, cond("regrant", nil, v), storedWaited)
	})

	t.Run("SetLeasedByAnother", func(t *testing.T) {
		wantGetLease(t, lr, "other", tokA, nil, true)
		wantSetLeasedResult(t, lr, tokB, cond("other", nil, w), l2.LeaseResult{})
		wantMiss(t, s, "other")
		wantGetLease(t, lr, "other", tokC, nil, false) // A's still
		wantSetLeasedResult(t, lr, tokA, cond("other", nil, v), stored)
		wantValue(t, s, "other", v)
	})

	t.Run("Release", func(t *testing.T) {
		wantGetLease(t, lr, "released", tokA, nil, true)
		wantReleased(t, lr, "released", tokB, false) // not B's lease
		wantGetLease(t, lr, "released", tokB, nil, false)
		wantReleased(t, lr, "released", tokA, false)
		wantGetLease(t, lr, "released", tokB, nil, true)
		wantMiss(t, s, "released")

		// A Lease refused meanwhile is reported.
		wantGetLease(t, lr, "released:waited", tokA, nil, true)
		wantLease(t, lr, "released:waited", nil, tokB, l2.LeaseHeld, nil)
		wantReleased(t, lr, "released:waited", tokA, true)
		wantGetLease(t, lr, "released:waited", tokB, nil, true)
	})

	t.Run("Revoke", func(t *testing.T) {
		tomb := []byte("tombstone")
		wantGetLease(t, lr, "revoked", tokA, nil, true)
		mustRevoke(t, lr, []l2.Item{item("revoked", tomb)})
		wantValue(t, s, "revoked", tomb)
		wantGetLease(t, lr, "revoked", tokB, tomb, false)
		wantSetLeasedResult(t, lr, tokA, cond("revoked", nil, v), l2.LeaseResult{})
		wantValue(t, s, "revoked", tomb)
		wantLease(t, lr, "revoked", tomb, tokB, l2.LeaseGranted, nil) // no lease left
	})

	t.Run("Set", func(t *testing.T) {
		wantGetLease(t, lr, "set", tokA, nil, true)
		mustSet(t, s, "set", v, long)
		wantValue(t, s, "set", v)
		wantGetLease(t, lr, "set", tokB, v, false)
		wantSetLeasedResult(t, lr, tokA, cond("set", nil, w), l2.LeaseResult{}) // the key changed
		wantValue(t, s, "set", v)
	})

	t.Run("Delete", func(t *testing.T) {
		// A Delete may end the lease or leave it: either way the key
		// holds nothing, and its holder holds the lease again when it
		// asks.
		wantGetLease(t, lr, "deleted", tokA, nil, true)
		mustDelete(t, s, "deleted")
		wantMiss(t, s, "deleted")
		wantGetLease(t, lr, "deleted", tokA, nil, true)
		wantGetLease(t, lr, "deleted", tokB, nil, false)
		wantSetLeasedResult(t, lr, tokA, cond("deleted", nil, v), stored)
		wantValue(t, s, "deleted", v)
	})

	t.Run("TTLNotPositive", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, -time.Second} {
			key := fmt.Sprint("bad:", ttl)
			if got, granted, err := lr.GetLease(t.Context(), key, tokA, ttl); err == nil {
				t.Errorf("GetLease with TTL %v = %q, %v; no error", ttl, got, granted)
			}
			wantMiss(t, s, key)
			wantGetLease(t, lr, key, tokB, nil, true) // A got nothing
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		mustSet(t, s, "canceled:present", v, long)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		for _, key := range []string{"canceled", "canceled:present"} {
			if got, granted, err := lr.GetLease(ctx, key, tokA, long); err == nil {
				t.Errorf("GetLease(%q) with a canceled context = %q, %v; no error", key, got, granted)
			}
		}
		wantGetLease(t, lr, "canceled", tokB, nil, true) // A got nothing
		wantValue(t, s, "canceled:present", v)
	})

	t.Run("Views", func(t *testing.T) {
		v1, v2 := views(t, s)
		r1, r2 := as[l2.LeaseReader](t, v1), as[l2.LeaseReader](t, v2)
		wantGetLease(t, r1, "k", tokA, nil, true)
		wantGetLease(t, r2, "k", tokB, nil, true) // another key
		wantGetLease(t, lr, "k", tokC, nil, true) // and another
		// Key k of the view is key v1:k of the store: one lease.
		wantGetLease(t, lr, "v1:k", tokB, nil, false)
		wantLease(t, lr, "v1:k", nil, tokB, l2.LeaseHeld, nil)
		wantSetLeasedResult(t, r1, tokA, cond("k", nil, v), storedWaited)
		wantGetLease(t, lr, "v1:k", tokB, v, false)
		wantGetLease(t, r2, "k", tokC, nil, false) // B's lease is untouched
		wantMiss(t, v2, "k")
	})

	t.Run("Staged", func(t *testing.T) {
		st, ok := optional[l2.Stager](t, s)
		if !ok {
			t.Skipf("%T does not declare %v", s, l2.Staging)
		}
		q := []byte("queued")
		wantStage(t, st, "staged", q, 0, 1)
		wantGetLease(t, lr, "staged", tokA, q, false) // a value: never leased
		wantValue(t, s, "staged", q)

		// A queued value deleted behind the Stager's back: GetLease may
		// answer the queued value, or grant a lease whose holder then
		// may not write, and finds the queued value put back.
		wantStage(t, st, "staged:deleted", q, 0, 1)
		mustDelete(t, s, "staged:deleted")
		got, granted := getLease(t, lr, "staged:deleted", tokA, long)
		if granted {
			checkGetLease(t, "GetLease(staged:deleted, token A)", got, granted, nil, true)
			wantSetLeasedResult(t, lr, tokA, cond("staged:deleted", nil, v), l2.LeaseResult{})
			wantValue(t, s, "staged:deleted", q) // put back, as Lease would
		} else {
			checkGetLease(t, "GetLease(staged:deleted, token A)", got, granted, q, false)
			wantValue(t, s, "staged:deleted", q)
		}
		checkStaged(t, "the queued value of staged:deleted", peek(t, st, "staged:deleted"), queuedAs(q, 1, false))
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Rounds of goroutines that each ask for the lease of one absent
		// key at once, each round on a key of its own: one is granted.
		const goroutines, rounds = 16, 10
		for r := range rounds {
			key := fmt.Sprint("race:", r)
			granted := make([]bool, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					got, ok, err := lr.GetLease(t.Context(), key, tok(fmt.Sprint(g)), long)
					if err != nil {
						t.Errorf("round %d, goroutine %d: GetLease: %v", r, g, err)
						return
					}
					if got != nil {
						t.Errorf("round %d, goroutine %d: GetLease(%s) = %q, want no value", r, g, key, got)
					}
					granted[g] = ok
				})
			}
			wg.Wait()
			winner := -1
			for g, ok := range granted {
				if !ok {
					continue
				}
				if winner >= 0 {
					t.Errorf("round %d: goroutines %d and %d both got the lease", r, winner, g)
				}
				winner = g
			}
			if winner < 0 {
				t.Fatalf("round %d: none of %d goroutines got the lease", r, goroutines)
			}
			wantSetLeasedResult(t, lr, tok(fmt.Sprint(winner)), cond(key, nil, v), stored)
			wantGetLease(t, lr, key, tok(fmt.Sprint((winner+1)%goroutines)), v, false)
		}
	})
}

// testLeaseReadTTL checks that a lease of GetLease lives its TTL, that its
// holder's GetLease keeps it without renewing it (its Lease renews it),
// that an expired value is no value, and that the mark of an expired lease
// ends with it.
func testLeaseReadTTL(t *testing.T, h Harness) {
	s, lr := newOptional[l2.LeaseReader](t, h)
	v := []byte("v")
	short := shortTTL(h)

	start := time.Now()
	// Everything short-lived is written before the lease of "probe", so
	// that once another token gets "probe" all of it has expired.
	wantShort := func(key string) {
		t.Helper()
		got, granted := getLease(t, lr, key, tokA, short)
		checkGetLease(t, fmt.Sprintf("GetLease(%q, token A, TTL %v)", key, short), got, granted, nil, true)
	}
	wantShort("renewed")
	wantShort("kept")
	wantShort("kept") // the holder keeps it, for the rest of its TTL
	wantShort("marked")
	wantLease(t, lr, "marked", nil, tokB, l2.LeaseHeld, nil)
	mustSet(t, s, "stale", v, short)
	wantShort("probe")
	wantLease(t, lr, "renewed", nil, tokA, l2.LeaseGranted, nil) // now for long

	if h.Advance != nil {
		h.Advance(t, short-100*time.Millisecond)
		for _, k := range []string{"probe", "renewed", "marked", "kept"} {
			wantGetLease(t, lr, k, tokB, nil, false)
		}
		wantGetLease(t, lr, "stale", tokB, v, false)
		h.Advance(t, 200*time.Millisecond)
		wantGetLease(t, lr, "probe", tokB, nil, true)
	} else {
		// A grant proves nothing on a slow machine, but a grant before the
		// TTL ran out is a bug.
		got, granted := getLease(t, lr, "probe", tokB, long)
		if granted && time.Since(start) < short {
			t.Errorf("GetLease(probe, token B) = %q, granted before the TTL of %v of A's lease", got, short)
		}
		waitGetLeaseGranted(t, lr, "probe", tokB)
		waitMiss(t, s, "stale")
	}

	wantGetLease(t, lr, "probe", tokA, nil, false) // B's now
	wantGetLease(t, lr, "renewed", tokB, nil, false)
	wantGetLease(t, lr, "kept", tokB, nil, true)
	// An expired value is no value: it is leased.
	wantMiss(t, s, "stale")
	wantGetLease(t, lr, "stale", tokC, nil, true)
	// The mark ended with the expired lease: a new one starts unmarked.
	wantGetLease(t, lr, "marked", tokC, nil, true)
	wantSetLeasedResult(t, lr, tokC, cond("marked", nil, v), l2.LeaseResult{Stored: true})
	wantValue(t, s, "marked", v)
}
