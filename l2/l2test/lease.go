package l2test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// The tests of l2.Leaser (lease.go of l2) with one key per call; those of
// batches are in lease_batch.go, those of the waited mark in
// lease_waited.go.

// tok returns the token that starts with the bytes of s (at most 16),
// zeros after.
func tok(s string) l2.Token {
	var t l2.Token
	copy(t[:], s)
	return t
}

// Tokens of three callers.
var (
	tokA = tok("token A")
	tokB = tok("token B")
	tokC = tok("token C")
)

// tokName returns a token for a failure message: its bytes before the
// trailing zeros, quoted.
func tokName(t l2.Token) string {
	return strconv.Quote(strings.TrimRight(string(t[:]), "\x00"))
}

// leaseFor calls Lease for one key and fails t on an error, or when it
// does not return one answer.
func leaseFor(t *testing.T, ls l2.Leaser, key string, old []byte, token l2.Token, ttl time.Duration) (l2.LeaseState, []byte) {
	t.Helper()
	a, err := leaseOne(t.Context(), ls, key, old, token, ttl)
	if err != nil {
		t.Fatalf("Lease(%q, old %q, token %s): %v", key, old, tokName(token), err)
	}
	return a.State, a.Value
}

// leaseOne calls Lease for one key, and returns an error when Lease does
// or when it does not return one answer.
func leaseOne(ctx context.Context, ls l2.Leaser, key string, old []byte, token l2.Token, ttl time.Duration) (l2.LeaseAnswer, error) {
	a, err := ls.Lease(ctx, token, ttl, []l2.Expect{{Key: key, Old: old}})
	if err != nil {
		return l2.LeaseAnswer{}, err
	}
	if len(a) != 1 {
		return l2.LeaseAnswer{}, fmt.Errorf("%d answers for one key", len(a))
	}
	return a[0], nil
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

// wantLease calls Lease for one key with TTL long and checks its answer
// (see checkLease).
func wantLease(t *testing.T, ls l2.Leaser, key string, old []byte, token l2.Token, want l2.LeaseState, wantCur []byte) {
	t.Helper()
	st, cur := leaseFor(t, ls, key, old, token, long)
	checkLease(t, fmt.Sprintf("Lease(%q, old %q, token %s)", key, old, tokName(token)), st, cur, want, wantCur)
}

// setLeased calls SetLeased for one item and fails t on an error, or when
// it does not return one result.
func setLeased(t *testing.T, ls l2.Leaser, token l2.Token, it l2.CondItem) l2.LeaseResult {
	t.Helper()
	res, err := setLeasedOne(t.Context(), ls, token, it)
	if err != nil {
		t.Fatalf("SetLeased(%q, token %s, old %q): %v", it.Key, tokName(token), it.Old, err)
	}
	return res
}

// setLeasedOne calls SetLeased for one item, and returns an error when
// SetLeased does or when it does not return one result.
func setLeasedOne(ctx context.Context, ls l2.Leaser, token l2.Token, it l2.CondItem) (l2.LeaseResult, error) {
	res, err := ls.SetLeased(ctx, token, []l2.CondItem{it})
	if err != nil {
		return l2.LeaseResult{}, err
	}
	if len(res) != 1 {
		return l2.LeaseResult{}, fmt.Errorf("%d results for one item", len(res))
	}
	return res[0], nil
}

// mustSetLeased calls SetLeased for one item and reports whether it stored.
func mustSetLeased(t *testing.T, ls l2.Leaser, key string, token l2.Token, old, value []byte, ttl time.Duration) bool {
	t.Helper()
	return setLeased(t, ls, token, condTTL(key, old, value, ttl)).Stored
}

// wantSetLeased calls SetLeased for one item with TTL long and checks
// whether it stored.
func wantSetLeased(t *testing.T, ls l2.Leaser, key string, token l2.Token, old, value []byte, want bool) {
	t.Helper()
	if got := mustSetLeased(t, ls, key, token, old, value, long); got != want {
		t.Errorf("SetLeased(%q, token %s, old %q, %q) stored = %v, want %v", key, tokName(token), old, value, got, want)
	}
}

// mustRelease calls Release for one key and returns whether somebody
// waited; it fails t on an error, or when it does not return one answer.
func mustRelease(t *testing.T, ls l2.Leaser, key string, token l2.Token) bool {
	t.Helper()
	waited, err := ls.Release(t.Context(), token, key)
	if err != nil {
		t.Fatalf("Release(%q, token %s): %v", key, tokName(token), err)
	}
	if len(waited) != 1 {
		t.Fatalf("Release(%q, token %s) returned %d answers, want 1", key, tokName(token), len(waited))
	}
	return waited[0]
}

// wantReleased calls Release for one key and checks whether it says that
// somebody waited.
func wantReleased(t *testing.T, ls l2.Leaser, key string, token l2.Token, waited bool) {
	t.Helper()
	if got := mustRelease(t, ls, key, token); got != waited {
		t.Errorf("Release(%q, token %s) waited = %v, want %v", key, tokName(token), got, waited)
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
func waitGranted(t *testing.T, ls l2.Leaser, key string, old []byte, token l2.Token) {
	t.Helper()
	pollUntil(t, fmt.Sprintf("Lease(%q, token %s) still held", key, tokName(token)), func() bool {
		st, cur := leaseFor(t, ls, key, old, token, long)
		switch st {
		case l2.LeaseGranted:
			return true
		case l2.LeaseHeld:
			return false
		}
		t.Fatalf("Lease(%q, old %q, token %s) = %v, %q while waiting for the lease", key, old, tokName(token), st, cur)
		return false
	})
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
		bin := tok("\x00tok\xff")
		mustSet(t, s, "bin\x00{}", v, long)
		wantLease(t, ls, "bin\x00{}", v[:3], bin, l2.LeaseChanged, v)
		wantLease(t, ls, "bin\x00{}", v, bin, l2.LeaseGranted, nil)
		wantLease(t, ls, "bin\x00{}", v, tok("\x00tok"), l2.LeaseHeld, nil)
		wantLease(t, ls, "bin\x00{}", v, tok("\x00tok\xff\x01"), l2.LeaseHeld, nil)
		wantSetLeased(t, ls, "bin\x00{}", bin, v, []byte("\x00w"), true)
		wantValue(t, s, "bin\x00{}", []byte("\x00w"))

		// Tokens are compared on all their 16 bytes, the last one too,
		// whatever it holds.
		full := [...]l2.Token{
			tok("0123456789abcdef"), tok("0123456789abcdeg"), tok("0123456789abcdew"),
			tok("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), {},
		}
		for i, holder := range full {
			key := fmt.Sprint("full:", i)
			wantLease(t, ls, key, nil, holder, l2.LeaseGranted, nil)
			for j, other := range full {
				if j != i {
					wantLease(t, ls, key, nil, other, l2.LeaseHeld, nil)
					wantSetLeased(t, ls, key, other, nil, []byte("other"), false)
				}
			}
			wantLease(t, ls, key, nil, holder, l2.LeaseGranted, nil)
			wantSetLeased(t, ls, key, holder, nil, []byte("holder"), true)
			wantValue(t, s, key, []byte("holder"))
		}
	})

	t.Run("Copies", func(t *testing.T) {
		// What Lease returns belongs to the caller.
		mustSet(t, s, "copy", []byte("original"), long)
		st, cur := leaseFor(t, ls, "copy", nil, tokA, long)
		checkLease(t, "Lease(copy, old nil)", st, cur, l2.LeaseChanged, []byte("original"))
		copy(cur, "XXXXXXXX")
		wantValue(t, s, "copy", []byte("original"))
		wantLease(t, ls, "copy", nil, tokA, l2.LeaseChanged, []byte("original"))

		// The values of SetLeased and Revoke are copied.
		wantLease(t, ls, "set-copy", nil, tokA, l2.LeaseGranted, nil)
		buf := []byte("stored")
		wantSetLeased(t, ls, "set-copy", tokA, nil, buf, true)
		copy(buf, "XXXXXX")
		wantValue(t, s, "set-copy", []byte("stored"))
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
		token := func(i int) l2.Token { return tok(fmt.Sprint("framing ", i)) }
		for i, k := range keys {
			wantLease(t, ls, k, nil, token(i), l2.LeaseGranted, nil)
		}
		for i, k := range keys {
			wantMiss(t, s, k)
			wantLease(t, ls, k, nil, tok("intruder"), l2.LeaseHeld, nil)
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
		pd, ok := optional[l2.PrefixDeleter](t, s)
		if !ok {
			t.Skipf("%T does not declare %v", s, l2.Prefixes)
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
		wantReleased(t, l2v, "r", tokA, false) // v2's r has no lease
		wantLease(t, l1, "r", nil, tokB, l2.LeaseHeld, nil)
		wantReleased(t, ls, "v1:r", tokA, true) // B waited, through v1
		wantLease(t, l1, "r", nil, tokB, l2.LeaseGranted, nil)
	})
}

// testLeaseOneKey runs the tiered cache's protocol on one key, one key per
// call, and checks that each call answers once; and that calls of no keys
// answer nothing.
func testLeaseOneKey(t *testing.T, h Harness) {
	_, ls := newOptional[l2.Leaser](t, h)
	ctx := t.Context()
	v := []byte("v")
	lease := func(token l2.Token, old []byte, want l2.LeaseAnswer) {
		t.Helper()
		a, err := ls.Lease(ctx, token, long, []l2.Expect{{Key: "k", Old: old}})
		if err != nil || len(a) != 1 || !sameAnswer(a[0], want) {
			t.Fatalf("Lease(k, old %q, token %s) = %+v, %v; want [%+v]", old, tokName(token), a, err, want)
		}
	}
	lease(tokA, nil, l2.LeaseAnswer{State: l2.LeaseGranted})
	lease(tokB, nil, l2.LeaseAnswer{State: l2.LeaseHeld})
	res, err := ls.SetLeased(ctx, tokA, []l2.CondItem{cond("k", nil, v)})
	if want := (l2.LeaseResult{Stored: true, Waited: true}); err != nil || len(res) != 1 || res[0] != want {
		t.Fatalf("SetLeased(k, token A) = %+v, %v; want [%+v]", res, err, want)
	}
	lease(tokB, nil, l2.LeaseAnswer{State: l2.LeaseChanged, Value: v})
	lease(tokB, v, l2.LeaseAnswer{State: l2.LeaseGranted})
	waited, err := ls.Release(ctx, tokB, "k")
	if err != nil || !slices.Equal(waited, []bool{false}) {
		t.Fatalf("Release(k, token B) = %v, %v; want [false]", waited, err)
	}
	lease(tokC, v, l2.LeaseAnswer{State: l2.LeaseGranted})

	// No keys: no answers, and no error.
	if a, err := ls.Lease(ctx, tokA, long, nil); err != nil || len(a) != 0 {
		t.Errorf("Lease(no keys) = %v, %v; want no answers", a, err)
	}
	if res, err := ls.SetLeased(ctx, tokA, nil); err != nil || len(res) != 0 {
		t.Errorf("SetLeased(no items) = %v, %v; want no results", res, err)
	}
	if waited, err := ls.Release(ctx, tokA); err != nil || len(waited) != 0 {
		t.Errorf("Release(no keys) = %v, %v; want no answers", waited, err)
	}
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
			if a, err := ls.Lease(t.Context(), tokA, ttl, []l2.Expect{{Key: key}}); err == nil {
				t.Errorf("Lease with TTL %v = %v, no error", ttl, a)
			}
			wantLease(t, ls, key, nil, tokB, l2.LeaseGranted, nil) // A got nothing

			key = fmt.Sprint("bad-set:", ttl)
			wantLease(t, ls, key, nil, tokA, l2.LeaseGranted, nil)
			if _, err := ls.SetLeased(t.Context(), tokA, []l2.CondItem{condTTL(key, nil, v1, ttl)}); err == nil {
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
	wantReleased(t, ls, "k", tokB, false) // not B's lease
	wantLease(t, ls, "k", nil, tokC, l2.LeaseHeld, nil)
	wantReleased(t, ls, "k", tok("token"), false)    // A's first bytes
	wantReleased(t, ls, "k", tok("token A "), false) // A's bytes and one more
	wantLease(t, ls, "k", nil, tokC, l2.LeaseHeld, nil)
	wantReleased(t, ls, "k", tokA, true) // C waited
	wantLease(t, ls, "k", nil, tokC, l2.LeaseGranted, nil)
	wantReleased(t, ls, "k", tokA, false) // A's again: C keeps it
	wantLease(t, ls, "k", nil, tokB, l2.LeaseHeld, nil)

	// Release leaves the value alone.
	mustSet(t, s, "value", v, long)
	wantLease(t, ls, "value", v, tokA, l2.LeaseGranted, nil)
	wantReleased(t, ls, "value", tokA, false)
	wantValue(t, s, "value", v)
	wantLease(t, ls, "value", v, tokB, l2.LeaseGranted, nil)

	// Releasing a lease that does not exist is no error.
	wantReleased(t, ls, "never", tokA, false)
	wantReleased(t, ls, "never", tokA, false)
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
		holder := func(i int) l2.Token { return tok(fmt.Sprint("holder ", i)) }
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
	short := shortTTL(h)

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
	token := func(g int) l2.Token { return tok(fmt.Sprint("token ", g)) }
	value := func(g int) []byte { return fmt.Appendf(nil, "value %d", g) }
	var wg sync.WaitGroup

	states := make([]l2.LeaseState, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			a, err := leaseOne(t.Context(), ls, "race", nil, token(g), long)
			if err != nil {
				t.Errorf("goroutine %d: Lease: %v", g, err)
				return
			}
			if a.Value != nil {
				t.Errorf("goroutine %d: Lease(race) = %v, %q; want no value", g, a.State, a.Value)
			}
			states[g] = a.State
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

	// All store at once: only the holder does, and it learns that the
	// others waited.
	results := make([]l2.LeaseResult, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			res, err := setLeasedOne(t.Context(), ls, token(g), cond("race", nil, value(g)))
			if err != nil {
				t.Errorf("goroutine %d: SetLeased: %v", g, err)
			}
			results[g] = res
		})
	}
	wg.Wait()
	for g, res := range results {
		if want := (l2.LeaseResult{Stored: g == winner, Waited: g == winner}); res != want {
			t.Errorf("goroutine %d: SetLeased = %+v, want %+v (the holder is %d)", g, res, want, winner)
		}
	}
	wantValue(t, s, "race", value(winner))
	for g := range goroutines {
		wg.Go(func() {
			a, err := leaseOne(t.Context(), ls, "race", nil, token(g), long)
			if err != nil {
				t.Errorf("goroutine %d: Lease: %v", g, err)
				return
			}
			checkLease(t, fmt.Sprintf("goroutine %d: Lease(race) after the store", g), a.State, a.Value, l2.LeaseChanged, value(winner))
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
			a, err := leaseOne(t.Context(), ls, key, nil, tokA, long)
			if err == nil && a.State == l2.LeaseGranted {
				_, err = setLeasedOne(t.Context(), ls, tokA, cond(key, nil, []byte("stale")))
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
func leaseAndLoad(ctx context.Context, ls l2.Leaser, key string, token l2.Token, value []byte, loads *atomic.Int32) ([]byte, error) {
	const deadline = 10 * time.Second
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	for {
		a, err := leaseOne(ctx, ls, key, nil, token, long)
		if err != nil {
			return nil, fmt.Errorf("lease: %w", err)
		}
		switch a.State {
		case l2.LeaseGranted:
			loads.Add(1)
			res, err := setLeasedOne(ctx, ls, token, cond(key, nil, value))
			if err != nil {
				return nil, fmt.Errorf("setleased: %w", err)
			}
			if !res.Stored {
				return nil, errors.New("setleased by the holder of the lease did not store")
			}
			return value, nil
		case l2.LeaseChanged:
			if a.Value == nil {
				return nil, errors.New("lease(old nil) = changed, nil")
			}
			return a.Value, nil
		case l2.LeaseHeld:
		default:
			return nil, fmt.Errorf("lease = %v", a.State)
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

	if a, err := leaseOne(ctx, ls, "k2", nil, tokB, long); err == nil {
		t.Errorf("Lease(k2) = %v, no error", a.State)
	}
	if a, err := leaseOne(ctx, ls, "k", v, tokA, long); err == nil {
		t.Errorf("Lease(k) by its holder = %v, no error", a.State)
	}
	if _, err := setLeasedOne(ctx, ls, tokA, cond("k", v, []byte("w"))); err == nil {
		t.Error("SetLeased: no error")
	}
	if _, err := setLeasedOne(ctx, ls, tokA, cond("k3", nil, []byte("w"))); err == nil {
		t.Error("SetLeased(old nil): no error")
	}
	if _, err := ls.Release(ctx, tokA, "k"); err == nil {
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
