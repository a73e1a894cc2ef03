package l2test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// The tests of l2.Leaser (optional.go of l2).

// Tokens of three callers. Stores must not modify them.
var (
	tokA = []byte("token A")
	tokB = []byte("token B")
	tokC = []byte("token C")
)

// leaseFor calls Lease and fails t on an error.
func leaseFor(t *testing.T, ls l2.Leaser, key string, old, token []byte, ttl time.Duration) (l2.LeaseState, []byte) {
	t.Helper()
	st, cur, err := ls.Lease(t.Context(), key, old, token, ttl)
	if err != nil {
		t.Fatalf("Lease(%q, old %q, token %q): %v", key, old, token, err)
	}
	return st, cur
}

// checkLease checks an answer of Lease against want and, for LeaseChanged,
// wantCur, where nil is nothing and a non-nil slice (possibly empty) a
// value. Granted and held answers carry no value.
func checkLease(t *testing.T, what string, st l2.LeaseState, cur []byte, want l2.LeaseState, wantCur []byte) {
	t.Helper()
	if st != want {
		t.Errorf("%s = %v (%q), want %v", what, st, cur, want)
		return
	}
	switch {
	case want != l2.LeaseChanged && cur != nil:
		t.Errorf("%s = %v with value %q, want no value", what, st, cur)
	case want == l2.LeaseChanged && wantCur == nil && cur != nil:
		t.Errorf("%s = %v, %q; want %v, nil (the key holds nothing)", what, st, cur, want)
	case want == l2.LeaseChanged && wantCur != nil && cur == nil:
		t.Errorf("%s = %v, nil (nothing); want %v, %q", what, st, want, wantCur)
	case !bytes.Equal(cur, wantCur):
		t.Errorf("%s = %v, %q; want %v, %q", what, st, cur, want, wantCur)
	}
}

// wantLease calls Lease with TTL long and checks its answer (see
// checkLease).
func wantLease(t *testing.T, ls l2.Leaser, key string, old, token []byte, want l2.LeaseState, wantCur []byte) {
	t.Helper()
	st, cur := leaseFor(t, ls, key, old, token, long)
	checkLease(t, fmt.Sprintf("Lease(%q, old %q, token %q)", key, old, token), st, cur, want, wantCur)
}

func mustSetLeased(t *testing.T, ls l2.Leaser, key string, token, old, value []byte, ttl time.Duration) bool {
	t.Helper()
	ok, err := ls.SetLeased(t.Context(), key, token, old, value, ttl)
	if err != nil {
		t.Fatalf("SetLeased(%q, token %q, old %q): %v", key, token, old, err)
	}
	return ok
}

// wantSetLeased calls SetLeased with TTL long and checks whether it stored.
func wantSetLeased(t *testing.T, ls l2.Leaser, key string, token, old, value []byte, want bool) {
	t.Helper()
	if got := mustSetLeased(t, ls, key, token, old, value, long); got != want {
		t.Errorf("SetLeased(%q, token %q, old %q, %q) = %v, want %v", key, token, old, value, got, want)
	}
}

func mustRelease(t *testing.T, ls l2.Leaser, key string, token []byte) {
	t.Helper()
	if err := ls.Release(t.Context(), token, key); err != nil {
		t.Fatalf("Release(%q, token %q): %v", key, token, err)
	}
}

func mustRevoke(t *testing.T, ls l2.Leaser, items []l2.Item) {
	t.Helper()
	if err := ls.Revoke(t.Context(), items); err != nil {
		t.Fatalf("Revoke(%d items): %v", len(items), err)
	}
}

// item returns a write of value under key, for TTL long.
func item(key string, value []byte) l2.Item {
	return l2.Item{Key: key, Value: value, TTL: long}
}

// waitGranted polls Lease(key, old, token) until it is granted, for stores
// on the real clock, and fails t after a deadline far beyond any TTL the
// suite waits for.
func waitGranted(t *testing.T, ls l2.Leaser, key string, old, token []byte) {
	t.Helper()
	const deadline = 10 * time.Second
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	for {
		st, cur := leaseFor(t, ls, key, old, token, long)
		switch st {
		case l2.LeaseGranted:
			return
		case l2.LeaseHeld:
		default:
			t.Fatalf("Lease(%q, old %q, token %q) = %v, %q while waiting for the lease", key, old, token, st, cur)
		}
		select {
		case <-tick.C:
		case <-timeout.C:
			t.Fatalf("Lease(%q, token %q) still held %v after its TTL", key, token, deadline)
		}
	}
}

func testLease(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)

	t.Run("Absent", func(t *testing.T) {
		wantLease(t, ls, "absent", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "absent", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "absent", nil, tokA, l2.LeaseGranted, nil) // granted again to its holder
		wantLease(t, ls, "absent", nil, tokB, l2.LeaseHeld, nil)
		wantMiss(t, s, "absent") // a lease is no value
		wantSlots(t, []string{"absent"}, mustGetMany(t, s, []string{"absent"}), [][]byte{nil})
	})

	t.Run("Changed", func(t *testing.T) {
		v := []byte("v")
		mustSet(t, s, "present", v, long)
		wantLease(t, ls, "present", nil, tokA, l2.LeaseChanged, v)
		wantLease(t, ls, "present", []byte("other"), tokA, l2.LeaseChanged, v)
		wantLease(t, ls, "present", []byte("v\x00"), tokA, l2.LeaseChanged, v)
		wantLease(t, ls, "present", []byte{}, tokA, l2.LeaseChanged, v)
		// No answer above granted the lease.
		wantLease(t, ls, "present", v, tokB, l2.LeaseGranted, nil)
		// A different value wins over a held lease.
		wantLease(t, ls, "present", []byte("other"), tokA, l2.LeaseChanged, v)
		wantLease(t, ls, "present", v, tokA, l2.LeaseHeld, nil)
		wantValue(t, s, "present", v) // a leased value stays readable

		wantLease(t, ls, "gone", v, tokA, l2.LeaseChanged, nil)
		wantLease(t, ls, "gone", []byte{}, tokA, l2.LeaseChanged, nil)
		wantLease(t, ls, "gone", nil, tokB, l2.LeaseGranted, nil)

		// An empty value is a value: not nothing, and not nil.
		mustSet(t, s, "empty", []byte{}, long)
		wantLease(t, ls, "empty", nil, tokA, l2.LeaseChanged, []byte{})
		wantLease(t, ls, "empty", []byte("x"), tokA, l2.LeaseChanged, []byte{})
		wantLease(t, ls, "empty", []byte{}, tokA, l2.LeaseGranted, nil)

		// A deleted key holds nothing.
		mustSet(t, s, "deleted", v, long)
		mustDelete(t, s, "deleted")
		wantLease(t, ls, "deleted", v, tokA, l2.LeaseChanged, nil)
		wantLease(t, ls, "deleted", nil, tokA, l2.LeaseGranted, nil)
	})

	t.Run("Binary", func(t *testing.T) {
		v := []byte("\x00\xff\r\n{}")
		tok := []byte("\x00tok\xff")
		mustSet(t, s, "bin\x00{}", v, long)
		wantLease(t, ls, "bin\x00{}", v[:3], tok, l2.LeaseChanged, v)
		wantLease(t, ls, "bin\x00{}", v, tok, l2.LeaseGranted, nil)
		wantLease(t, ls, "bin\x00{}", v, []byte("\x00tok"), l2.LeaseHeld, nil)
		wantLease(t, ls, "bin\x00{}", v, []byte("\x00tok\xff\x00"), l2.LeaseHeld, nil)
		wantSetLeased(t, ls, "bin\x00{}", tok, v, []byte("\x00w"), true)
		wantValue(t, s, "bin\x00{}", []byte("\x00w"))
	})

	t.Run("Copies", func(t *testing.T) {
		// What Lease returns belongs to the caller.
		mustSet(t, s, "copy", []byte("original"), long)
		st, cur := leaseFor(t, ls, "copy", nil, tokA, long)
		checkLease(t, "Lease(copy, old nil)", st, cur, l2.LeaseChanged, []byte("original"))
		copy(cur, "XXXXXXXX")
		wantValue(t, s, "copy", []byte("original"))
		wantLease(t, ls, "copy", nil, tokA, l2.LeaseChanged, []byte("original"))

		// The token is copied: the caller may reuse its buffer.
		tok := []byte("token 1")
		wantLease(t, ls, "token-copy", nil, tok, l2.LeaseGranted, nil)
		copy(tok, "token 2")
		wantLease(t, ls, "token-copy", nil, []byte("token 2"), l2.LeaseHeld, nil)
		wantLease(t, ls, "token-copy", nil, []byte("token 1"), l2.LeaseGranted, nil)

		// So are the values of SetLeased and Revoke.
		buf := []byte("stored")
		wantSetLeased(t, ls, "token-copy", []byte("token 1"), nil, buf, true)
		copy(buf, "XXXXXX")
		wantValue(t, s, "token-copy", []byte("stored"))
		items := []l2.Item{item("revoke-copy", []byte("revoked"))}
		mustRevoke(t, ls, items)
		copy(items[0].Value, "XXXXXXX")
		wantValue(t, s, "revoke-copy", []byte("revoked"))
	})

	t.Run("KeyFraming", func(t *testing.T) {
		// Keys whose leases a store would confuse with each other or with
		// values if it framed them naively (Redis keeps "{tc:a}:lease").
		keys := []string{
			"f", "f:lease", "f}:lease", "f}", "{f}", ":lease", "", "{}", "}",
			"f:lease:lease", "{f}:lease", "f\x00", "F",
		}
		token := func(i int) []byte { return fmt.Appendf(nil, "framing %d", i) }
		for i, k := range keys {
			wantLease(t, ls, k, nil, token(i), l2.LeaseGranted, nil)
		}
		for i, k := range keys {
			wantMiss(t, s, k)
			wantLease(t, ls, k, nil, []byte("intruder"), l2.LeaseHeld, nil)
			wantLease(t, ls, k, nil, token(i), l2.LeaseGranted, nil)
		}
		for i, k := range keys {
			wantSetLeased(t, ls, k, token(i), nil, fmt.Appendf(nil, "value %d", i), true)
		}
		for i, k := range keys {
			wantValue(t, s, k, fmt.Appendf(nil, "value %d", i))
		}
	})

	t.Run("LeasesAreNotKeys", func(t *testing.T) {
		pd, ok := s.(l2.PrefixDeleter)
		if !ok {
			t.Skipf("%T does not implement l2.PrefixDeleter", s)
		}
		mustSet(t, s, "dp:1", []byte("v"), long)
		wantLease(t, ls, "dp:1", []byte("v"), tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "dp:2", nil, tokA, l2.LeaseGranted, nil)
		wantKeys(t, `DeletePrefix("dp:")`, deletePrefix(t, pd, "dp:", 10), []string{"dp:1"})
		wantMiss(t, s, "dp:1")
		wantMiss(t, s, "dp:2")
	})

	t.Run("Views", func(t *testing.T) {
		v1, v2 := views(t, s)
		l1, l2v := as[l2.Leaser](t, v1), as[l2.Leaser](t, v2)
		wantLease(t, l1, "k", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, l2v, "k", nil, tokB, l2.LeaseGranted, nil) // another key
		wantLease(t, ls, "k", nil, tokC, l2.LeaseGranted, nil)  // and another
		// Key k of the view is key v1:k of the store: one lease.
		wantLease(t, ls, "v1:k", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "v1:k", nil, tokA, l2.LeaseGranted, nil)

		wantSetLeased(t, l1, "k", tokA, nil, []byte("one"), true)
		wantValue(t, v1, "k", []byte("one"))
		wantValue(t, s, "v1:k", []byte("one"))
		wantMiss(t, v2, "k")
		wantMiss(t, s, "k")
		wantLease(t, l2v, "k", nil, tokC, l2.LeaseHeld, nil) // B's lease is untouched
		wantLease(t, ls, "v1:k", []byte("one"), tokC, l2.LeaseGranted, nil)

		mustRevoke(t, l2v, []l2.Item{item("k", []byte("tomb"))})
		wantValue(t, v2, "k", []byte("tomb"))
		wantValue(t, v1, "k", []byte("one"))
		wantLease(t, l2v, "k", []byte("tomb"), tokC, l2.LeaseGranted, nil)
		wantLease(t, l1, "k", []byte("one"), tokA, l2.LeaseHeld, nil) // C's lease of v1:k stays

		// Revoke of the store's key v1:x ends the lease of the view's x.
		wantLease(t, l1, "x", nil, tokA, l2.LeaseGranted, nil)
		mustRevoke(t, ls, []l2.Item{item("v1:x", []byte("tomb"))})
		wantValue(t, v1, "x", []byte("tomb"))
		wantLease(t, l1, "x", []byte("tomb"), tokB, l2.LeaseGranted, nil)

		// Release through the store, or through another view.
		wantLease(t, l1, "r", nil, tokA, l2.LeaseGranted, nil)
		mustRelease(t, l2v, "r", tokA) // v2's r has no lease
		wantLease(t, l1, "r", nil, tokB, l2.LeaseHeld, nil)
		mustRelease(t, ls, "v1:r", tokA)
		wantLease(t, l1, "r", nil, tokB, l2.LeaseGranted, nil)
	})
}

func testSetLeased(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v1, v2 := []byte("v1"), []byte("v2")

	t.Run("Stores", func(t *testing.T) {
		wantLease(t, ls, "absent", nil, tokA, l2.LeaseGranted, nil)
		wantSetLeased(t, ls, "absent", tokA, nil, v1, true)
		wantValue(t, s, "absent", v1)
		// The lease has ended: another token gets it.
		wantLease(t, ls, "absent", v1, tokB, l2.LeaseGranted, nil)

		mustSet(t, s, "present", v1, long)
		wantLease(t, ls, "present", v1, tokA, l2.LeaseGranted, nil)
		wantSetLeased(t, ls, "present", tokA, v1, v2, true)
		wantValue(t, s, "present", v2)
		wantLease(t, ls, "present", v2, tokB, l2.LeaseGranted, nil)

		// After a re-grant too.
		wantLease(t, ls, "regrant", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "regrant", nil, tokA, l2.LeaseGranted, nil)
		wantSetLeased(t, ls, "regrant", tokA, nil, v1, true)
		wantValue(t, s, "regrant", v1)
		wantLease(t, ls, "regrant", v1, tokB, l2.LeaseGranted, nil)
	})

	t.Run("NobodyHolds", func(t *testing.T) {
		// No lease was ever taken: SetLeased is a SetIf.
		wantSetLeased(t, ls, "unleased", tokA, v1, v2, false)
		wantMiss(t, s, "unleased")
		wantSetLeased(t, ls, "unleased", tokA, nil, v1, true)
		wantValue(t, s, "unleased", v1)
		wantSetLeased(t, ls, "unleased", tokB, nil, v2, false)
		wantSetLeased(t, ls, "unleased", tokB, v1, v2, true)
		wantValue(t, s, "unleased", v2)

		// Nor after its holder released it.
		wantLease(t, ls, "released", nil, tokA, l2.LeaseGranted, nil)
		mustRelease(t, ls, "released", tokA)
		wantSetLeased(t, ls, "released", tokA, nil, v1, true)
		wantValue(t, s, "released", v1)
		wantLease(t, ls, "released2", nil, tokA, l2.LeaseGranted, nil)
		mustRelease(t, ls, "released2", tokA)
		wantSetLeased(t, ls, "released2", tokB, nil, v1, true)
		wantValue(t, s, "released2", v1)
	})

	t.Run("HeldByAnother", func(t *testing.T) {
		wantLease(t, ls, "held", nil, tokA, l2.LeaseGranted, nil)
		wantSetLeased(t, ls, "held", tokB, nil, v2, false)
		wantMiss(t, s, "held")
		// A's lease is left alone: C cannot take it, A still writes.
		wantLease(t, ls, "held", nil, tokC, l2.LeaseHeld, nil)
		wantSetLeased(t, ls, "held", tokB, nil, v2, false)
		wantSetLeased(t, ls, "held", tokA, nil, v1, true)
		wantValue(t, s, "held", v1)

		mustSet(t, s, "held-present", v1, long)
		wantLease(t, ls, "held-present", v1, tokA, l2.LeaseGranted, nil)
		wantSetLeased(t, ls, "held-present", tokB, v1, v2, false)
		wantValue(t, s, "held-present", v1)
		wantLease(t, ls, "held-present", v1, tokC, l2.LeaseHeld, nil)
		wantSetLeased(t, ls, "held-present", tokA, v1, v2, true)
		wantValue(t, s, "held-present", v2)
	})

	t.Run("Changed", func(t *testing.T) {
		// A tombstone written meanwhile wins, and the lease ends anyway.
		wantLease(t, ls, "tomb", nil, tokA, l2.LeaseGranted, nil)
		mustSet(t, s, "tomb", []byte("tombstone"), long)
		wantSetLeased(t, ls, "tomb", tokA, nil, v1, false)
		wantValue(t, s, "tomb", []byte("tombstone"))
		wantLease(t, ls, "tomb", []byte("tombstone"), tokB, l2.LeaseGranted, nil)

		// The same with an old value.
		mustSet(t, s, "swapped", v1, long)
		wantLease(t, ls, "swapped", v1, tokA, l2.LeaseGranted, nil)
		mustSet(t, s, "swapped", v2, long)
		wantSetLeased(t, ls, "swapped", tokA, v1, []byte("stale"), false)
		wantValue(t, s, "swapped", v2)
		wantLease(t, ls, "swapped", v2, tokB, l2.LeaseGranted, nil)

		// And with a Delete.
		mustSet(t, s, "deleted", v1, long)
		wantLease(t, ls, "deleted", v1, tokA, l2.LeaseGranted, nil)
		mustDelete(t, s, "deleted")
		wantSetLeased(t, ls, "deleted", tokA, v1, []byte("stale"), false)
		wantMiss(t, s, "deleted")
		wantLease(t, ls, "deleted", nil, tokB, l2.LeaseGranted, nil)

		// An old that never matched: the lease ends too.
		mustSet(t, s, "wrong-old", v1, long)
		wantLease(t, ls, "wrong-old", v1, tokA, l2.LeaseGranted, nil)
		wantSetLeased(t, ls, "wrong-old", tokA, nil, v2, false)
		wantValue(t, s, "wrong-old", v1)
		wantLease(t, ls, "wrong-old", v1, tokB, l2.LeaseGranted, nil)
	})

	t.Run("EmptyAndNil", func(t *testing.T) {
		wantLease(t, ls, "nil", nil, tokA, l2.LeaseGranted, nil)
		wantSetLeased(t, ls, "nil", tokA, nil, nil, true)
		wantValue(t, s, "nil", []byte{}) // a nil value is stored as an empty one
		wantLease(t, ls, "nil", nil, tokB, l2.LeaseChanged, []byte{})
		wantLease(t, ls, "nil", []byte{}, tokB, l2.LeaseGranted, nil)
		wantSetLeased(t, ls, "nil", tokB, []byte{}, v1, true)
		wantValue(t, s, "nil", v1)
	})

	t.Run("TTLNotPositive", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, -time.Second} {
			key := fmt.Sprint("bad-lease:", ttl)
			if st, _, err := ls.Lease(t.Context(), key, nil, tokA, ttl); err == nil {
				t.Errorf("Lease with TTL %v = %v, no error", ttl, st)
			}
			wantLease(t, ls, key, nil, tokB, l2.LeaseGranted, nil) // A got nothing

			key = fmt.Sprint("bad-set:", ttl)
			wantLease(t, ls, key, nil, tokA, l2.LeaseGranted, nil)
			if _, err := ls.SetLeased(t.Context(), key, tokA, nil, v1, ttl); err == nil {
				t.Errorf("SetLeased with TTL %v: no error", ttl)
			}
			wantMiss(t, s, key)
		}
	})
}

func testLeaseRelease(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v := []byte("v")

	wantLease(t, ls, "k", nil, tokA, l2.LeaseGranted, nil)
	mustRelease(t, ls, "k", tokB) // not B's lease
	wantLease(t, ls, "k", nil, tokC, l2.LeaseHeld, nil)
	mustRelease(t, ls, "k", []byte("token"))    // a prefix of A's token
	mustRelease(t, ls, "k", []byte("token A ")) // A's token and more
	wantLease(t, ls, "k", nil, tokC, l2.LeaseHeld, nil)
	mustRelease(t, ls, "k", tokA)
	wantLease(t, ls, "k", nil, tokC, l2.LeaseGranted, nil)
	mustRelease(t, ls, "k", tokA) // A's again: C keeps it
	wantLease(t, ls, "k", nil, tokB, l2.LeaseHeld, nil)

	// Release leaves the value alone.
	mustSet(t, s, "value", v, long)
	wantLease(t, ls, "value", v, tokA, l2.LeaseGranted, nil)
	mustRelease(t, ls, "value", tokA)
	wantValue(t, s, "value", v)
	wantLease(t, ls, "value", v, tokB, l2.LeaseGranted, nil)

	// Releasing a lease that does not exist is no error.
	mustRelease(t, ls, "never", tokA)
	mustRelease(t, ls, "never", tokA)
	wantMiss(t, s, "never")
	wantLease(t, ls, "never", nil, tokB, l2.LeaseGranted, nil)
}

func testLeaseRevoke(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	tomb := []byte("tombstone")

	t.Run("EndsLeases", func(t *testing.T) {
		// Enough keys to span every shard of a cluster, in reverse order;
		// by i%4: absent and leased, present and leased, absent and not
		// leased, present and not leased.
		const n = 64
		keys := make([]string, n)
		olds := make([][]byte, n)
		items := make([]l2.Item, n)
		holder := func(i int) []byte { return fmt.Appendf(nil, "holder %d", i) }
		for i := range n {
			k := fmt.Sprint("revoke:", n-i)
			keys[i] = k
			if i%2 == 1 {
				olds[i] = []byte("old " + k)
				mustSet(t, s, k, olds[i], long)
			}
			if i%4 < 2 {
				wantLease(t, ls, k, olds[i], holder(i), l2.LeaseGranted, nil)
			}
			items[i] = item(k, fmt.Appendf(nil, "tombstone %d", i))
		}
		// Keys left out of Revoke keep their leases.
		wantLease(t, ls, "bystander", nil, tokA, l2.LeaseGranted, nil)

		mustRevoke(t, ls, items)
		vals := make([][]byte, n)
		for i := range items {
			vals[i] = items[i].Value
		}
		wantSlots(t, keys, mustGetMany(t, s, keys), vals)
		for i, k := range keys {
			if i%4 >= 2 {
				wantLease(t, ls, k, vals[i], tokB, l2.LeaseGranted, nil)
				continue
			}
			if i%8 < 4 {
				// Another token takes the lease; the old holder's value
				// is refused, and the new holder's lease left alone.
				wantLease(t, ls, k, vals[i], tokB, l2.LeaseGranted, nil)
				wantSetLeased(t, ls, k, holder(i), olds[i], []byte("stale"), false)
				wantLease(t, ls, k, vals[i], tokC, l2.LeaseHeld, nil)
			} else {
				// The holder comes first and is refused.
				wantSetLeased(t, ls, k, holder(i), olds[i], []byte("stale"), false)
				wantLease(t, ls, k, vals[i], tokB, l2.LeaseGranted, nil)
			}
		}
		wantSlots(t, keys, mustGetMany(t, s, keys), vals)
		wantLease(t, ls, "bystander", nil, tokB, l2.LeaseHeld, nil)
	})

	t.Run("Empty", func(t *testing.T) {
		for _, items := range [][]l2.Item{nil, {}} {
			if err := ls.Revoke(t.Context(), items); err != nil {
				t.Errorf("Revoke(%#v): %v", items, err)
			}
		}
	})

	t.Run("NilValue", func(t *testing.T) {
		wantLease(t, ls, "nil", nil, tokA, l2.LeaseGranted, nil)
		mustRevoke(t, ls, []l2.Item{item("nil", nil)})
		wantValue(t, s, "nil", []byte{})
		wantLease(t, ls, "nil", nil, tokB, l2.LeaseChanged, []byte{})
		wantLease(t, ls, "nil", []byte{}, tokB, l2.LeaseGranted, nil)
	})

	t.Run("TTLNotPositive", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, -time.Second} {
			good, bad := fmt.Sprint("good:", ttl), fmt.Sprint("bad:", ttl)
			wantLease(t, ls, good, nil, tokA, l2.LeaseGranted, nil)
			wantLease(t, ls, bad, nil, tokA, l2.LeaseGranted, nil)
			items := []l2.Item{item(good, tomb), {Key: bad, Value: tomb, TTL: ttl}}
			if err := ls.Revoke(t.Context(), items); err == nil {
				t.Errorf("Revoke with TTL %v: no error", ttl)
			}
			// Nothing was written, and the leases are A's still.
			wantMiss(t, s, good)
			wantMiss(t, s, bad)
			wantLease(t, ls, good, nil, tokB, l2.LeaseHeld, nil)
			wantLease(t, ls, bad, nil, tokB, l2.LeaseHeld, nil)
		}
	})
}

// testLeaseTTL checks that a lease lives its TTL, that its holder renews
// it, and what an expired lease allows; and that SetLeased and Revoke write
// with their TTLs.
func testLeaseTTL(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v := []byte("v")
	short := 150 * time.Millisecond
	if h.Advance != nil {
		// Not a whole number of seconds: a store that rounds to seconds fails.
		short = 1500 * time.Millisecond
	}

	start := time.Now()
	// Everything short-lived is written before the lease of "probe", so
	// that once another token gets "probe" all of it has expired.
	wantShort := func(key string) {
		t.Helper()
		st, cur := leaseFor(t, ls, key, nil, tokA, short)
		checkLease(t, fmt.Sprintf("Lease(%q, token A, TTL %v)", key, short), st, cur, l2.LeaseGranted, nil)
	}
	wantShort("renewed")
	wantShort("expired")  // its holder stores after the lease expired
	wantShort("taken")    // another token takes it after it expired
	wantShort("orphaned") // another token stores after it expired
	mustSet(t, s, "stale", v, short)
	wantLease(t, ls, "set-short", nil, tokA, l2.LeaseGranted, nil)
	if !mustSetLeased(t, ls, "set-short", tokA, nil, v, short) {
		t.Fatal("SetLeased(set-short) did not store")
	}
	if err := ls.Revoke(t.Context(), []l2.Item{
		{Key: "revoke-short", Value: v, TTL: short},
		item("revoke-long", v),
	}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	wantShort("probe")
	wantLease(t, ls, "renewed", nil, tokA, l2.LeaseGranted, nil) // now for long

	shortKeys := []string{"stale", "set-short", "revoke-short"}
	if h.Advance != nil {
		h.Advance(t, short-100*time.Millisecond)
		for _, k := range []string{"probe", "renewed", "expired", "taken", "orphaned"} {
			wantLease(t, ls, k, nil, tokB, l2.LeaseHeld, nil)
		}
		for _, k := range shortKeys {
			wantValue(t, s, k, v)
		}
		h.Advance(t, 200*time.Millisecond)
		wantLease(t, ls, "probe", nil, tokB, l2.LeaseGranted, nil)
	} else {
		// A grant proves nothing on a slow machine, but a grant before the
		// TTL ran out is a bug.
		st, _ := leaseFor(t, ls, "probe", nil, tokB, long)
		if st == l2.LeaseGranted && time.Since(start) < short {
			t.Errorf("Lease(probe, token B) granted before the TTL of %v of A's lease", short)
		}
		waitGranted(t, ls, "probe", nil, tokB)
		for _, k := range shortKeys {
			waitMiss(t, s, k)
		}
	}

	for _, k := range shortKeys {
		wantMiss(t, s, k)
	}
	wantValue(t, s, "revoke-long", v)
	wantLease(t, ls, "renewed", nil, tokB, l2.LeaseHeld, nil)

	// An expired lease that nobody took: its holder still stores.
	if !mustSetLeased(t, ls, "expired", tokA, nil, v, long) {
		t.Error("SetLeased after the lease expired, untaken: did not store")
	}
	wantValue(t, s, "expired", v)
	wantLease(t, ls, "expired", v, tokB, l2.LeaseGranted, nil)

	// An expired lease is held by nobody: another token stores too.
	if !mustSetLeased(t, ls, "orphaned", tokB, nil, v, long) {
		t.Error("SetLeased by another token after the lease expired, untaken: did not store")
	}
	wantValue(t, s, "orphaned", v)

	// An expired lease that another token took: the old holder neither
	// stores nor releases it.
	wantLease(t, ls, "taken", nil, tokB, l2.LeaseGranted, nil)
	if mustSetLeased(t, ls, "taken", tokA, nil, v, long) {
		t.Error("SetLeased by the holder of an expired lease that another took: stored")
	}
	wantMiss(t, s, "taken")
	mustRelease(t, ls, "taken", tokA)
	wantLease(t, ls, "taken", nil, tokC, l2.LeaseHeld, nil)
	if !mustSetLeased(t, ls, "taken", tokB, nil, []byte("b"), long) {
		t.Error("SetLeased by the new holder: did not store")
	}
	wantValue(t, s, "taken", []byte("b"))

	// An expired value is nothing.
	wantLease(t, ls, "stale", v, tokA, l2.LeaseChanged, nil)
	wantLease(t, ls, "stale", nil, tokA, l2.LeaseGranted, nil)
	wantLease(t, ls, "set-short", v, tokA, l2.LeaseChanged, nil)
}

// testLeaseConcurrent checks that one of many callers that ask for the
// lease of a key at once gets it, and that the others then get its value.
func testLeaseConcurrent(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	const goroutines = 16
	token := func(g int) []byte { return fmt.Appendf(nil, "token %d", g) }
	value := func(g int) []byte { return fmt.Appendf(nil, "value %d", g) }
	var wg sync.WaitGroup

	states := make([]l2.LeaseState, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			st, cur, err := ls.Lease(t.Context(), "race", nil, token(g), long)
			if err != nil {
				t.Errorf("goroutine %d: Lease: %v", g, err)
				return
			}
			if cur != nil {
				t.Errorf("goroutine %d: Lease(race) = %v, %q; want no value", g, st, cur)
			}
			states[g] = st
		})
	}
	wg.Wait()
	winner := -1
	for g, st := range states {
		switch st {
		case l2.LeaseGranted:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both got the lease", winner, g)
			}
			winner = g
		case l2.LeaseHeld:
		default:
			t.Errorf("goroutine %d: Lease of an absent key = %v, want granted or held", g, st)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d goroutines got the lease", goroutines)
	}

	// All store at once: only the holder does.
	stored := make([]bool, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ok, err := ls.SetLeased(t.Context(), "race", token(g), nil, value(g), long)
			if err != nil {
				t.Errorf("goroutine %d: SetLeased: %v", g, err)
			}
			stored[g] = ok
		})
	}
	wg.Wait()
	for g, ok := range stored {
		if ok != (g == winner) {
			t.Errorf("goroutine %d: SetLeased = %v, want %v (the holder is %d)", g, ok, g == winner, winner)
		}
	}
	wantValue(t, s, "race", value(winner))
	for g := range goroutines {
		wg.Go(func() {
			st, cur, err := ls.Lease(t.Context(), "race", nil, token(g), long)
			if err != nil {
				t.Errorf("goroutine %d: Lease: %v", g, err)
				return
			}
			checkLease(t, fmt.Sprintf("goroutine %d: Lease(race) after the store", g), st, cur, l2.LeaseChanged, value(winner))
		})
	}
	wg.Wait()

	// Rounds of the tiered cache's protocol, each on a key of its own:
	// every goroutine asks for the lease, the one granted stores its value,
	// the others ask again until they get that value. One loads per round.
	const rounds = 10
	for r := range rounds {
		key := fmt.Sprint("round:", r)
		var loads atomic.Int32
		got := make([][]byte, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				v, err := leaseAndLoad(t.Context(), ls, key, token(g), value(g), &loads)
				if err != nil {
					t.Errorf("round %d, goroutine %d: %v", r, g, err)
				}
				got[g] = v
			})
		}
		wg.Wait()
		if n := loads.Load(); n != 1 {
			t.Errorf("round %d: %d goroutines got the lease, want 1", r, n)
		}
		want, err := s.Get(t.Context(), key)
		if err != nil {
			t.Fatalf("round %d: Get: %v", r, err)
		}
		for g, v := range got {
			if !bytes.Equal(v, want) {
				t.Errorf("round %d, goroutine %d got %q, the key holds %q", r, g, v, want)
			}
		}
	}

	// Revoke races a holder: the revoked value wins, and no lease stays.
	const keys = 20
	tomb := []byte("tombstone")
	for i := range keys {
		key := fmt.Sprint("revoked:", i)
		wg.Go(func() {
			st, _, err := ls.Lease(t.Context(), key, nil, tokA, long)
			if err == nil && st == l2.LeaseGranted {
				_, err = ls.SetLeased(t.Context(), key, tokA, nil, []byte("stale"), long)
			}
			if err != nil {
				t.Errorf("holder of %s: %v", key, err)
			}
		})
		wg.Go(func() {
			if err := ls.Revoke(t.Context(), []l2.Item{item(key, tomb)}); err != nil {
				t.Errorf("Revoke(%s): %v", key, err)
			}
		})
	}
	wg.Wait()
	for i := range keys {
		key := fmt.Sprint("revoked:", i)
		wantValue(t, s, key, tomb)
		wantLease(t, ls, key, tomb, tokB, l2.LeaseGranted, nil)
	}
}

// leaseAndLoad asks for the lease of key until it gets the lease, and
// then stores value, or gets the value another caller stored. It returns
// the value stored.
func leaseAndLoad(ctx context.Context, ls l2.Leaser, key string, token, value []byte, loads *atomic.Int32) ([]byte, error) {
	const deadline = 10 * time.Second
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	for {
		st, cur, err := ls.Lease(ctx, key, nil, token, long)
		if err != nil {
			return nil, fmt.Errorf("lease: %w", err)
		}
		switch st {
		case l2.LeaseGranted:
			loads.Add(1)
			ok, err := ls.SetLeased(ctx, key, token, nil, value, long)
			if err != nil {
				return nil, fmt.Errorf("setleased: %w", err)
			}
			if !ok {
				return nil, errors.New("setleased by the holder of the lease did not store")
			}
			return value, nil
		case l2.LeaseChanged:
			if cur == nil {
				return nil, errors.New("lease(old nil) = changed, nil")
			}
			return cur, nil
		case l2.LeaseHeld:
		default:
			return nil, fmt.Errorf("lease = %v", st)
		}
		select {
		case <-time.After(time.Millisecond):
		case <-timeout.C:
			return nil, fmt.Errorf("the lease is still held after %v, and no value came", deadline)
		}
	}
}

// testLeaseCanceledContext requires an error from every operation of
// l2.Leaser given a canceled context, and that none of them happened.
func testLeaseCanceledContext(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v := []byte("v")
	mustSet(t, s, "k", v, long)
	wantLease(t, ls, "k", v, tokA, l2.LeaseGranted, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	if st, _, err := ls.Lease(ctx, "k2", nil, tokB, long); err == nil {
		t.Errorf("Lease(k2) = %v, no error", st)
	}
	if st, _, err := ls.Lease(ctx, "k", v, tokA, long); err == nil {
		t.Errorf("Lease(k) by its holder = %v, no error", st)
	}
	if _, err := ls.SetLeased(ctx, "k", tokA, v, []byte("w"), long); err == nil {
		t.Error("SetLeased: no error")
	}
	if _, err := ls.SetLeased(ctx, "k3", tokA, nil, []byte("w"), long); err == nil {
		t.Error("SetLeased(old nil): no error")
	}
	if err := ls.Release(ctx, tokA, "k"); err == nil {
		t.Error("Release: no error")
	}
	if err := ls.Revoke(ctx, []l2.Item{item("k", []byte("tomb"))}); err == nil {
		t.Error("Revoke: no error")
	}
	if err := ls.Revoke(ctx, []l2.Item{item("k", []byte("tomb")), item("k3", []byte("tomb"))}); err == nil {
		t.Error("Revoke of two items: no error")
	}

	wantValue(t, s, "k", v)
	wantMiss(t, s, "k3")
	wantLease(t, ls, "k", v, tokB, l2.LeaseHeld, nil)       // A holds it still
	wantLease(t, ls, "k2", nil, tokC, l2.LeaseGranted, nil) // B never got it
}
