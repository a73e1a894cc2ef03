package l2test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// The tests of the batch methods of l2.Leaser: LeaseMany, SetLeasedMany and
// Release of several keys. Where they can, they run a scenario twice, on
// keys of their own, once with the batch method and once with the
// single-key one, and require the same answers and the same state after.
//
// Their keys are many and differ in more than a suffix ("k0" to "k99" and
// the like), so that on a Redis Cluster they spread over many slots and
// nodes, and a batch takes several pipelines.

// tokProbe is the token with which the tests look at who holds a lease.
var tokProbe = []byte("probe token")

// mustLeaseMany calls LeaseMany and fails t on an error, or when it does
// not return one answer per key.
func mustLeaseMany(t *testing.T, ls l2.Leaser, token []byte, ttl time.Duration, keys []string, olds [][]byte) []l2.LeaseAnswer {
	t.Helper()
	answers, err := ls.LeaseMany(t.Context(), token, ttl, keys, olds)
	if err != nil {
		t.Fatalf("LeaseMany(token %q, %d keys): %v", token, len(keys), err)
	}
	if len(answers) != len(keys) {
		t.Fatalf("LeaseMany(token %q, %d keys) returned %d answers", token, len(keys), len(answers))
	}
	return answers
}

// wantAnswers checks the answers of LeaseMany (see checkLease).
func wantAnswers(t *testing.T, what string, keys []string, olds [][]byte, got, want []l2.LeaseAnswer) {
	t.Helper()
	for i := range want {
		checkLease(t, fmt.Sprintf("%s: answer %d (%q, old %q)", what, i, keys[i], olds[i]),
			got[i].State, got[i].Value, want[i].State, want[i].Value)
	}
}

// wantLeaseMany calls LeaseMany with TTL long and checks its answers.
func wantLeaseMany(t *testing.T, ls l2.Leaser, token []byte, keys []string, olds [][]byte, want []l2.LeaseAnswer) {
	t.Helper()
	got := mustLeaseMany(t, ls, token, long, keys, olds)
	wantAnswers(t, fmt.Sprintf("LeaseMany(token %q)", token), keys, olds, got, want)
}

// answers returns n answers of state st, with no value.
func answers(n int, st l2.LeaseState) []l2.LeaseAnswer {
	a := make([]l2.LeaseAnswer, n)
	for i := range a {
		a[i].State = st
	}
	return a
}

// sameAnswer reports whether a and b are the same answer, telling a nil
// value (nothing) from an empty one.
func sameAnswer(a, b l2.LeaseAnswer) bool {
	return a.State == b.State && (a.Value == nil) == (b.Value == nil) && bytes.Equal(a.Value, b.Value)
}

func mustSetLeasedMany(t *testing.T, ls l2.Leaser, token []byte, items []l2.CondItem) []bool {
	t.Helper()
	stored, err := ls.SetLeasedMany(t.Context(), token, items)
	if err != nil {
		t.Fatalf("SetLeasedMany(token %q, %d items): %v", token, len(items), err)
	}
	if len(stored) != len(items) {
		t.Fatalf("SetLeasedMany(token %q, %d items) returned %d results", token, len(items), len(stored))
	}
	return stored
}

// wantSetLeasedMany calls SetLeasedMany and checks its results.
func wantSetLeasedMany(t *testing.T, ls l2.Leaser, token []byte, items []l2.CondItem, want []bool) {
	t.Helper()
	got := mustSetLeasedMany(t, ls, token, items)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("SetLeasedMany(token %q) item %d (%q, old %q) stored = %v, want %v",
				token, i, items[i].Key, items[i].Old, got[i], want[i])
		}
	}
}

func mustReleaseMany(t *testing.T, ls l2.Leaser, token []byte, keys ...string) {
	t.Helper()
	if err := ls.Release(t.Context(), token, keys...); err != nil {
		t.Fatalf("Release(token %q, %d keys): %v", token, len(keys), err)
	}
}

// wantHolder checks that key holds value (nil: nothing) and that holder
// holds its lease, or nobody when holder is nil. A lease found free is
// left free; a held one is granted again to its holder, for long.
func wantHolder(t *testing.T, s l2.Store, ls l2.Leaser, key string, value, holder []byte) {
	t.Helper()
	if value == nil {
		wantMiss(t, s, key)
	} else {
		wantValue(t, s, key, value)
	}
	st, cur := leaseFor(t, ls, key, value, tokProbe, long)
	if holder == nil {
		checkLease(t, fmt.Sprintf("Lease(%q) of a lease nobody should hold", key), st, cur, l2.LeaseGranted, nil)
		mustRelease(t, ls, key, tokProbe)
		return
	}
	checkLease(t, fmt.Sprintf("Lease(%q) of a lease %q should hold", key, holder), st, cur, l2.LeaseHeld, nil)
	wantLease(t, ls, key, value, holder, l2.LeaseGranted, nil)
}

// numbered returns the keys prefix+"0" to prefix+(n-1).
func numbered(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint(prefix, i)
	}
	return keys
}

func testLeaseMany(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v, other := []byte("v"), []byte("other")
	bin := []byte("\x00\xff\r\n{}")

	t.Run("AgreesWithLease", func(t *testing.T) {
		// Token A asks for every key at once, or for each in turn.
		tests := []struct {
			name   string
			setup  func(key string)
			old    []byte
			want   l2.LeaseAnswer
			value  []byte // what the key holds after, nil: nothing
			holder []byte // who holds the lease after, nil: nobody
		}{
			{"absent", nil, nil, l2.LeaseAnswer{State: l2.LeaseGranted}, nil, tokA},
			{"match", func(k string) { mustSet(t, s, k, v, long) }, v, l2.LeaseAnswer{State: l2.LeaseGranted}, v, tokA},
			{"match-empty", func(k string) { mustSet(t, s, k, []byte{}, long) }, []byte{},
				l2.LeaseAnswer{State: l2.LeaseGranted}, []byte{}, tokA},
			{"match-binary", func(k string) { mustSet(t, s, k, bin, long) }, bin, l2.LeaseAnswer{State: l2.LeaseGranted}, bin, tokA},
			{"mismatch", func(k string) { mustSet(t, s, k, v, long) }, other,
				l2.LeaseAnswer{State: l2.LeaseChanged, Value: v}, v, nil},
			{"prefix-of-value", func(k string) { mustSet(t, s, k, bin, long) }, bin[:3],
				l2.LeaseAnswer{State: l2.LeaseChanged, Value: bin}, bin, nil},
			{"present-old-nil", func(k string) { mustSet(t, s, k, v, long) }, nil,
				l2.LeaseAnswer{State: l2.LeaseChanged, Value: v}, v, nil},
			{"empty-old-nil", func(k string) { mustSet(t, s, k, []byte{}, long) }, nil,
				l2.LeaseAnswer{State: l2.LeaseChanged, Value: []byte{}}, []byte{}, nil},
			{"gone", nil, v, l2.LeaseAnswer{State: l2.LeaseChanged}, nil, nil},
			{"gone-old-empty", nil, []byte{}, l2.LeaseAnswer{State: l2.LeaseChanged}, nil, nil},
			{"deleted", func(k string) { mustSet(t, s, k, v, long); mustDelete(t, s, k) }, v,
				l2.LeaseAnswer{State: l2.LeaseChanged}, nil, nil},
			{"held", func(k string) { wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil) }, nil,
				l2.LeaseAnswer{State: l2.LeaseHeld}, nil, tokB},
			{"held-present", func(k string) {
				mustSet(t, s, k, v, long)
				wantLease(t, ls, k, v, tokB, l2.LeaseGranted, nil)
			}, v, l2.LeaseAnswer{State: l2.LeaseHeld}, v, tokB},
			// A different value wins over a held lease.
			{"held-changed", func(k string) {
				mustSet(t, s, k, v, long)
				wantLease(t, ls, k, v, tokB, l2.LeaseGranted, nil)
			}, other, l2.LeaseAnswer{State: l2.LeaseChanged, Value: v}, v, tokB},
			{"held-gone", func(k string) { wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil) }, v,
				l2.LeaseAnswer{State: l2.LeaseChanged}, nil, tokB},
			// Granted again to its holder.
			{"mine", func(k string) { wantLease(t, ls, k, nil, tokA, l2.LeaseGranted, nil) }, nil,
				l2.LeaseAnswer{State: l2.LeaseGranted}, nil, tokA},
			{"mine-present", func(k string) {
				mustSet(t, s, k, v, long)
				wantLease(t, ls, k, v, tokA, l2.LeaseGranted, nil)
			}, v, l2.LeaseAnswer{State: l2.LeaseGranted}, v, tokA},
			{"released", func(k string) {
				wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil)
				mustRelease(t, ls, k, tokB)
			}, nil, l2.LeaseAnswer{State: l2.LeaseGranted}, nil, tokA},
			{"written-under-lease", func(k string) {
				wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil)
				wantSetLeased(t, ls, k, tokB, nil, v, true)
			}, v, l2.LeaseAnswer{State: l2.LeaseGranted}, v, tokA},
		}
		keys := func(prefix string) []string {
			keys := make([]string, len(tests))
			for i, tc := range tests {
				keys[i] = prefix + tc.name
				if tc.setup != nil {
					tc.setup(keys[i])
				}
			}
			return keys
		}
		manyKeys, oneKeys := keys("many:"), keys("one:")
		olds := make([][]byte, len(tests))
		want := make([]l2.LeaseAnswer, len(tests))
		for i, tc := range tests {
			olds[i], want[i] = tc.old, tc.want
		}

		many := mustLeaseMany(t, ls, tokA, long, manyKeys, olds)
		wantAnswers(t, "LeaseMany(token A)", manyKeys, olds, many, want)
		one := make([]l2.LeaseAnswer, len(tests))
		for i, k := range oneKeys {
			one[i].State, one[i].Value = leaseFor(t, ls, k, olds[i], tokA, long)
		}
		wantAnswers(t, "Lease(token A)", oneKeys, olds, one, want)
		for i := range tests {
			if !sameAnswer(many[i], one[i]) {
				t.Errorf("%s, old %q: LeaseMany answered %v, %q; Lease %v, %q",
					tests[i].name, olds[i], many[i].State, many[i].Value, one[i].State, one[i].Value)
			}
		}
		for i, tc := range tests {
			wantHolder(t, s, ls, manyKeys[i], tc.value, tc.holder)
			wantHolder(t, s, ls, oneKeys[i], tc.value, tc.holder)
		}
	})

	t.Run("Order", func(t *testing.T) {
		// Keys over many slots of a cluster, in reverse order; by i%5:
		// absent, old nil (granted); holding its own value, old that value
		// (granted); holding its own value, another old (changed, with
		// that value); absent, old non-nil (changed, nothing); held by B
		// (held).
		const n = 100
		keys := numbered("k", n)
		slices.Reverse(keys)
		olds := make([][]byte, n)
		want := make([]l2.LeaseAnswer, n)
		for i, k := range keys {
			val := []byte("value of " + k)
			switch i % 5 {
			case 0:
				want[i].State = l2.LeaseGranted
			case 1:
				mustSet(t, s, k, val, long)
				olds[i] = val
				want[i].State = l2.LeaseGranted
			case 2:
				mustSet(t, s, k, val, long)
				olds[i] = []byte("stale " + k)
				want[i] = l2.LeaseAnswer{State: l2.LeaseChanged, Value: val}
			case 3:
				olds[i] = val
				want[i].State = l2.LeaseChanged
			case 4:
				wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil)
				want[i].State = l2.LeaseHeld
			}
		}
		wantLeaseMany(t, ls, tokA, keys, olds, want)
		// Again: A's grants are renewed, the rest is as it was.
		wantLeaseMany(t, ls, tokA, keys, olds, want)
		// C finds A's and B's leases held, and the changed keys changed.
		for i := range want {
			if want[i].State == l2.LeaseGranted {
				want[i].State = l2.LeaseHeld
			}
		}
		wantLeaseMany(t, ls, tokC, keys, olds, want)
	})

	t.Run("Duplicates", func(t *testing.T) {
		// A key may come more than once in one call. The same token asks
		// each time, so what follows a grant is granted again.
		wantLeaseMany(t, ls, tokA, []string{"dup", "dup", "dup-x", "dup"}, make([][]byte, 4), answers(4, l2.LeaseGranted))
		wantLease(t, ls, "dup", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "dup-x", nil, tokB, l2.LeaseHeld, nil)

		// Held by another: held each time.
		wantLease(t, ls, "dup-held", nil, tokB, l2.LeaseGranted, nil)
		wantLeaseMany(t, ls, tokA, []string{"dup-held", "dup-held"}, make([][]byte, 2), answers(2, l2.LeaseHeld))
		wantLease(t, ls, "dup-held", nil, tokC, l2.LeaseHeld, nil)
		wantLease(t, ls, "dup-held", nil, tokB, l2.LeaseGranted, nil)

		// Each occurrence has its old.
		mustSet(t, s, "dup-v", v, long)
		wantLeaseMany(t, ls, tokA, []string{"dup-v", "dup-v", "dup-v", "dup-v"}, [][]byte{other, v, nil, v},
			[]l2.LeaseAnswer{{State: l2.LeaseChanged, Value: v}, {State: l2.LeaseGranted}, {State: l2.LeaseChanged, Value: v}, {State: l2.LeaseGranted}})
		wantHolder(t, s, ls, "dup-v", v, tokA)
	})

	t.Run("Args", func(t *testing.T) {
		for _, keys := range [][]string{nil, {}} {
			for _, olds := range [][][]byte{nil, {}} {
				got, err := ls.LeaseMany(t.Context(), tokA, long, keys, olds)
				if err != nil || len(got) != 0 {
					t.Errorf("LeaseMany(keys %#v, olds %#v) = %v, %v; want no answers, no error", keys, olds, got, err)
				}
			}
		}

		mismatched := []struct {
			keys []string
			olds [][]byte
		}{
			{[]string{"args:1", "args:2"}, [][]byte{nil}},
			{[]string{"args:1"}, [][]byte{nil, nil}},
			{[]string{"args:1", "args:2"}, nil},
			{nil, [][]byte{nil}},
		}
		for _, tc := range mismatched {
			if got, err := ls.LeaseMany(t.Context(), tokA, long, tc.keys, tc.olds); err == nil {
				t.Errorf("LeaseMany(%d keys, %d olds) = %v, no error", len(tc.keys), len(tc.olds), got)
			}
		}
		for _, ttl := range []time.Duration{0, -time.Second} {
			if got, err := ls.LeaseMany(t.Context(), tokA, ttl, []string{"args:1", "args:2"}, make([][]byte, 2)); err == nil {
				t.Errorf("LeaseMany with TTL %v = %v, no error", ttl, got)
			}
		}
		// Wrong arguments are found before anything happens: A got
		// nothing.
		wantLeaseMany(t, ls, tokB, []string{"args:1", "args:2"}, make([][]byte, 2), answers(2, l2.LeaseGranted))
	})

	t.Run("Copies", func(t *testing.T) {
		// The values returned belong to the caller, each its own even
		// for the same key.
		mustSet(t, s, "copy", []byte("original"), long)
		keys := []string{"copy", "copy"}
		got := mustLeaseMany(t, ls, tokA, long, keys, make([][]byte, 2))
		want := []l2.LeaseAnswer{
			{State: l2.LeaseChanged, Value: []byte("original")},
			{State: l2.LeaseChanged, Value: []byte("original")},
		}
		wantAnswers(t, "LeaseMany(copy, copy)", keys, make([][]byte, 2), got, want)
		if got[0].Value != nil {
			copy(got[0].Value, "XXXXXXXX")
		}
		checkLease(t, "the second answer after the first was modified", got[1].State, got[1].Value, l2.LeaseChanged, []byte("original"))
		wantValue(t, s, "copy", []byte("original"))
		wantLease(t, ls, "copy", nil, tokA, l2.LeaseChanged, []byte("original"))

		// The token, keys and olds are the caller's: it may reuse them.
		tok := []byte("token 1")
		keys = []string{"tok-copy:1", "tok-copy:2"}
		olds := [][]byte{nil, []byte("o")}
		mustSet(t, s, "tok-copy:2", []byte("o"), long)
		wantLeaseMany(t, ls, tok, keys, olds, answers(2, l2.LeaseGranted))
		copy(tok, "token 2")
		keys[0], keys[1] = "tok-copy:x", "tok-copy:y"
		copy(olds[1], "p")
		wantLease(t, ls, "tok-copy:1", nil, []byte("token 2"), l2.LeaseHeld, nil)
		wantLease(t, ls, "tok-copy:2", []byte("o"), []byte("token 2"), l2.LeaseHeld, nil)
		wantLease(t, ls, "tok-copy:1", nil, []byte("token 1"), l2.LeaseGranted, nil)
		wantLease(t, ls, "tok-copy:2", []byte("o"), []byte("token 1"), l2.LeaseGranted, nil)
	})

	t.Run("Views", func(t *testing.T) {
		v1, v2 := views(t, s)
		l1, l2v := as[l2.Leaser](t, v1), as[l2.Leaser](t, v2)
		keys := []string{"a", "b"}
		wantLeaseMany(t, l1, tokA, keys, make([][]byte, 2), answers(2, l2.LeaseGranted))
		wantLeaseMany(t, l2v, tokB, keys, make([][]byte, 2), answers(2, l2.LeaseGranted)) // other keys
		wantLeaseMany(t, ls, tokC, keys, make([][]byte, 2), answers(2, l2.LeaseGranted))  // and others
		// Keys a and b of v1 are keys v1:a and v1:b of the store.
		wantLeaseMany(t, ls, tokC, []string{"v1:a", "v1:b", "v2:a"}, make([][]byte, 3), answers(3, l2.LeaseHeld))
		wantLeaseMany(t, ls, tokA, []string{"v1:a", "v1:b"}, make([][]byte, 2), answers(2, l2.LeaseGranted))

		wantSetLeasedMany(t, l1, tokA, []l2.CondItem{cond("a", nil, []byte("one"))}, []bool{true})
		wantValue(t, s, "v1:a", []byte("one"))
		wantMiss(t, v2, "a")
		mustReleaseMany(t, l1, tokA, "b", "a")
		wantLease(t, ls, "v1:b", nil, tokC, l2.LeaseGranted, nil)
		wantLease(t, l2v, "b", nil, tokC, l2.LeaseHeld, nil) // B's lease is untouched
	})
}

func testSetLeasedMany(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v, w, other := []byte("v"), []byte("w"), []byte("other")
	bin := []byte("\x00\xff\r\n{}")

	t.Run("AgreesWithSetLeased", func(t *testing.T) {
		// Token A stores every item at once, or each in turn.
		leaseA := func(k string, old []byte) { wantLease(t, ls, k, old, tokA, l2.LeaseGranted, nil) }
		leaseB := func(k string, old []byte) { wantLease(t, ls, k, old, tokB, l2.LeaseGranted, nil) }
		tests := []struct {
			name       string
			setup      func(key string)
			old, value []byte
			stored     bool
			after      []byte // what the key holds after, nil: nothing
			holder     []byte // who holds the lease after, nil: nobody
		}{
			{"mine", func(k string) { leaseA(k, nil) }, nil, w, true, w, nil},
			{"mine-present", func(k string) { mustSet(t, s, k, v, long); leaseA(k, v) }, v, w, true, w, nil},
			{"mine-twice", func(k string) { leaseA(k, nil); leaseA(k, nil) }, nil, w, true, w, nil},
			{"mine-empty", func(k string) { mustSet(t, s, k, []byte{}, long); leaseA(k, []byte{}) }, []byte{}, w, true, w, nil},
			{"mine-nil-value", func(k string) { leaseA(k, nil) }, nil, nil, true, []byte{}, nil},
			{"mine-binary", func(k string) { mustSet(t, s, k, bin, long); leaseA(k, bin) }, bin, bin[1:], true, bin[1:], nil},
			// Nobody holds the lease: a SetIf.
			{"unleased", nil, nil, w, true, w, nil},
			{"unleased-present", func(k string) { mustSet(t, s, k, v, long) }, v, w, true, w, nil},
			{"unleased-mismatch", func(k string) { mustSet(t, s, k, v, long) }, other, w, false, v, nil},
			{"unleased-old-nil", func(k string) { mustSet(t, s, k, v, long) }, nil, w, false, v, nil},
			{"unleased-gone", nil, v, w, false, nil, nil},
			{"released", func(k string) { leaseB(k, nil); mustRelease(t, ls, k, tokB) }, nil, w, true, w, nil},
			// Changed under A's lease: not stored, and the lease ends.
			{"mine-tombstone", func(k string) { leaseA(k, nil); mustSet(t, s, k, []byte("tomb"), long) },
				nil, w, false, []byte("tomb"), nil},
			{"mine-swapped", func(k string) { mustSet(t, s, k, v, long); leaseA(k, v); mustSet(t, s, k, other, long) },
				v, w, false, other, nil},
			{"mine-deleted", func(k string) { mustSet(t, s, k, v, long); leaseA(k, v); mustDelete(t, s, k) },
				v, w, false, nil, nil},
			{"mine-wrong-old", func(k string) { mustSet(t, s, k, v, long); leaseA(k, v) }, nil, w, false, v, nil},
			// Held by another: not stored, and B's lease stays.
			{"other", func(k string) { leaseB(k, nil) }, nil, w, false, nil, tokB},
			{"other-present", func(k string) { mustSet(t, s, k, v, long); leaseB(k, v) }, v, w, false, v, tokB},
			{"other-wrong-old", func(k string) { mustSet(t, s, k, v, long); leaseB(k, v) }, other, w, false, v, tokB},
			{"taken-over", func(k string) { leaseA(k, nil); mustRelease(t, ls, k, tokA); leaseB(k, nil) },
				nil, w, false, nil, tokB},
		}
		items := func(prefix string) []l2.CondItem {
			items := make([]l2.CondItem, len(tests))
			for i, tc := range tests {
				items[i] = cond(prefix+tc.name, tc.old, tc.value)
				if tc.setup != nil {
					tc.setup(items[i].Key)
				}
			}
			return items
		}
		manyItems, oneItems := items("many:"), items("one:")
		want := make([]bool, len(tests))
		for i, tc := range tests {
			want[i] = tc.stored
		}

		many := mustSetLeasedMany(t, ls, tokA, manyItems)
		one := make([]bool, len(tests))
		for i, it := range oneItems {
			one[i] = mustSetLeased(t, ls, it.Key, tokA, it.Old, it.Value, it.TTL)
		}
		for i, tc := range tests {
			if many[i] != tc.stored || one[i] != tc.stored {
				t.Errorf("%s (old %q): SetLeasedMany stored = %v, SetLeased = %v; want %v", tc.name, tc.old, many[i], one[i], tc.stored)
			}
		}
		for i, tc := range tests {
			wantHolder(t, s, ls, manyItems[i].Key, tc.after, tc.holder)
			wantHolder(t, s, ls, oneItems[i].Key, tc.after, tc.holder)
		}
	})

	t.Run("Order", func(t *testing.T) {
		// Keys over many slots of a cluster, in reverse order; by i%4:
		// leased by A (stored); leased by B (not); not leased, with a
		// matching old (stored); not leased, with another old (not).
		const n = 100
		keys := numbered("k", n)
		slices.Reverse(keys)
		items := make([]l2.CondItem, n)
		want := make([]bool, n)
		after := make([][]byte, n)
		for i, k := range keys {
			val, next := []byte("value of "+k), []byte("next of "+k)
			switch i % 4 {
			case 0:
				wantLease(t, ls, k, nil, tokA, l2.LeaseGranted, nil)
				items[i], want[i], after[i] = cond(k, nil, next), true, next
			case 1:
				wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil)
				items[i], after[i] = cond(k, nil, next), nil
			case 2:
				mustSet(t, s, k, val, long)
				items[i], want[i], after[i] = cond(k, val, next), true, next
			case 3:
				mustSet(t, s, k, val, long)
				items[i], after[i] = cond(k, []byte("stale"), next), val
			}
		}
		wantSetLeasedMany(t, ls, tokA, items, want)
		wantSlots(t, keys, mustGetMany(t, s, keys), after)
		// A holds no lease now; B holds its own still.
		for i, k := range keys {
			st := l2.LeaseGranted
			if i%4 == 1 {
				st = l2.LeaseHeld
			}
			wantLease(t, ls, k, after[i], tokC, st, nil)
		}
	})

	t.Run("TTLNotPositive", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, -time.Second} {
			good, good2, bad := fmt.Sprint("good:", ttl), fmt.Sprint("good2:", ttl), fmt.Sprint("bad:", ttl)
			wantLeaseMany(t, ls, tokA, []string{good, good2, bad}, make([][]byte, 3), answers(3, l2.LeaseGranted))
			for _, items := range [][]l2.CondItem{
				{cond(good, nil, w), cond(good2, nil, w), {Item: l2.Item{Key: bad, Value: w, TTL: ttl}}},
				{{Item: l2.Item{Key: bad, Value: w, TTL: ttl}}, cond(good, nil, w), cond(good2, nil, w)},
			} {
				if stored, err := ls.SetLeasedMany(t.Context(), tokA, items); err == nil {
					t.Errorf("SetLeasedMany with TTL %v = %v, no error", ttl, stored)
				}
			}
			// Nothing was written, and the leases are A's still.
			for _, k := range []string{good, good2, bad} {
				wantMiss(t, s, k)
				wantLease(t, ls, k, nil, tokB, l2.LeaseHeld, nil)
			}
		}
	})

	t.Run("Empty", func(t *testing.T) {
		for _, items := range [][]l2.CondItem{nil, {}} {
			stored, err := ls.SetLeasedMany(t.Context(), tokA, items)
			if err != nil || len(stored) != 0 {
				t.Errorf("SetLeasedMany(%#v) = %v, %v; want no results, no error", items, stored, err)
			}
		}
	})

	t.Run("Copies", func(t *testing.T) {
		items := []l2.CondItem{cond("copy:1", nil, []byte("stored 1")), cond("copy:2", nil, []byte("stored 2"))}
		wantLeaseMany(t, ls, tokA, []string{"copy:1", "copy:2"}, make([][]byte, 2), answers(2, l2.LeaseGranted))
		wantSetLeasedMany(t, ls, tokA, items, []bool{true, true})
		copy(items[0].Value, "XXXXXXXX")
		copy(items[1].Value, "YYYYYYYY")
		wantValue(t, s, "copy:1", []byte("stored 1"))
		wantValue(t, s, "copy:2", []byte("stored 2"))
	})
}

func testReleaseMany(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)

	// Over the keys of prefix: A holds the even ones, B the odd ones,
	// and every other pair holds a value. A releases them all at once
	// ("many"), or each in turn ("one"), along with keys nobody leased.
	const n = 20
	for _, prefix := range []string{"many", "one"} {
		keys := numbered(prefix+":k", n)
		values := make([][]byte, n)
		for i, k := range keys {
			if i%4 >= 2 {
				values[i] = []byte("value of " + k)
				mustSet(t, s, k, values[i], long)
			}
			holder := tokA
			if i%2 == 1 {
				holder = tokB
			}
			wantLease(t, ls, k, values[i], holder, l2.LeaseGranted, nil)
		}
		kept := prefix + ":kept"
		wantLease(t, ls, kept, nil, tokA, l2.LeaseGranted, nil) // left out of Release

		release := append(slices.Clone(keys), prefix+":never", keys[0], keys[1])
		if prefix == "many" {
			mustReleaseMany(t, ls, tokA, release...)
		} else {
			for _, k := range release {
				mustRelease(t, ls, k, tokA)
			}
		}
		for i, k := range keys {
			var holder []byte // A's leases ended
			if i%2 == 1 {
				holder = tokB
			}
			wantHolder(t, s, ls, k, values[i], holder)
		}
		wantHolder(t, s, ls, prefix+":never", nil, nil)
		wantHolder(t, s, ls, kept, nil, tokA)
	}

	// No keys: nothing to do, and no error.
	mustReleaseMany(t, ls, tokA)
	mustReleaseMany(t, ls, tokA, []string{}...)
	wantHolder(t, s, ls, "many:kept", nil, tokA)
	wantHolder(t, s, ls, "many:k1", nil, tokB)
}

// testLeaseManyThenSet runs the tiered cache's batch protocol: LeaseMany
// grants keys, SetLeasedMany stores them all and ends the leases, and
// another token then leases them.
func testLeaseManyThenSet(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	const n = 60
	keys := numbered("k", n)
	olds := make([][]byte, n)
	items := make([]l2.CondItem, n)
	news := make([][]byte, n)
	for i, k := range keys {
		if i%2 == 1 {
			olds[i] = []byte("old " + k)
			mustSet(t, s, k, olds[i], long)
		}
		news[i] = []byte("new " + k)
		items[i] = cond(k, olds[i], news[i])
	}
	wantLeaseMany(t, ls, tokA, keys, olds, answers(n, l2.LeaseGranted))
	wantLeaseMany(t, ls, tokB, keys, olds, answers(n, l2.LeaseHeld))
	wantSetLeasedMany(t, ls, tokA, items, slices.Repeat([]bool{true}, n))
	wantSlots(t, keys, mustGetMany(t, s, keys), news)

	// A read older than the write is told the new value.
	changed := make([]l2.LeaseAnswer, n)
	for i := range changed {
		changed[i] = l2.LeaseAnswer{State: l2.LeaseChanged, Value: news[i]}
	}
	wantLeaseMany(t, ls, tokC, keys, olds, changed)
	// The leases are free: B gets them, C finds them held.
	wantLeaseMany(t, ls, tokB, keys, news, answers(n, l2.LeaseGranted))
	wantLeaseMany(t, ls, tokC, keys, news, answers(n, l2.LeaseHeld))
	// And A, whose leases ended, stores none of them again.
	wantSetLeasedMany(t, ls, tokA, items, make([]bool, n))
	wantSlots(t, keys, mustGetMany(t, s, keys), news)
}

// testLeaseManyTTL checks that LeaseMany grants for its TTL, that its
// holder renews with LeaseMany, and that SetLeasedMany writes with the TTL
// of each item.
func testLeaseManyTTL(t *testing.T, h Harness) {
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
	leased := []string{"renewed", "expired", "taken", "orphaned"}
	wantAnswers(t, "LeaseMany(token A, short)", leased, make([][]byte, len(leased)),
		mustLeaseMany(t, ls, tokA, short, leased, make([][]byte, len(leased))), answers(len(leased), l2.LeaseGranted))
	wantLeaseMany(t, ls, tokA, []string{"set-short", "set-long"}, make([][]byte, 2), answers(2, l2.LeaseGranted))
	wantSetLeasedMany(t, ls, tokA, []l2.CondItem{
		{Item: l2.Item{Key: "set-short", Value: v, TTL: short}},
		cond("set-long", nil, v),
	}, []bool{true, true})
	wantAnswers(t, "LeaseMany(probe, token A, short)", []string{"probe"}, [][]byte{nil},
		mustLeaseMany(t, ls, tokA, short, []string{"probe"}, [][]byte{nil}), answers(1, l2.LeaseGranted))
	wantLeaseMany(t, ls, tokA, []string{"renewed"}, [][]byte{nil}, answers(1, l2.LeaseGranted)) // now for long

	if h.Advance != nil {
		h.Advance(t, short-100*time.Millisecond)
		all := append([]string{"probe"}, leased...)
		wantLeaseMany(t, ls, tokB, all, make([][]byte, len(all)), answers(len(all), l2.LeaseHeld))
		wantValue(t, s, "set-short", v)
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
		waitMiss(t, s, "set-short")
	}
	wantMiss(t, s, "set-short")
	wantValue(t, s, "set-long", v)

	// B takes one expired lease; the renewed one is A's still.
	wantLeaseMany(t, ls, tokB, []string{"taken", "renewed"}, make([][]byte, 2),
		[]l2.LeaseAnswer{{State: l2.LeaseGranted}, {State: l2.LeaseHeld}})
	// A stores where its lease expired untaken, and where it renewed it;
	// not where B took it, and B's lease stays.
	wantSetLeasedMany(t, ls, tokA, []l2.CondItem{cond("expired", nil, v), cond("taken", nil, v), cond("renewed", nil, v)},
		[]bool{true, false, true})
	// An expired lease is held by nobody: another token stores too.
	wantSetLeasedMany(t, ls, tokB, []l2.CondItem{cond("orphaned", nil, v)}, []bool{true})
	wantValue(t, s, "expired", v)
	wantMiss(t, s, "taken")
	wantValue(t, s, "renewed", v)
	wantValue(t, s, "orphaned", v)
	wantLease(t, ls, "taken", nil, tokC, l2.LeaseHeld, nil)
	wantSetLeasedMany(t, ls, tokB, []l2.CondItem{cond("taken", nil, []byte("b"))}, []bool{true})
	wantValue(t, s, "taken", []byte("b"))
	wantLeaseMany(t, ls, tokC, []string{"expired", "renewed", "orphaned"}, [][]byte{v, v, v}, answers(3, l2.LeaseGranted))
}

// testLeaseManyConcurrent checks that when many callers ask for the same
// keys at once with LeaseMany, each key is granted to exactly one of them,
// and only that one stores it with SetLeasedMany.
func testLeaseManyConcurrent(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	const goroutines, n = 8, 50
	keys := numbered("k", n)
	token := func(g int) []byte { return fmt.Appendf(nil, "token %d", g) }
	value := func(g int, key string) []byte { return fmt.Appendf(nil, "value %d of %s", g, key) }
	// Each goroutine asks in an order of its own, so that they meet in
	// the middle of their batches.
	order := func(g int) []string {
		ks := slices.Clone(keys)
		if g%2 == 1 {
			slices.Reverse(ks)
		}
		r := g * n / goroutines
		return slices.Concat(ks[r:], ks[:r])
	}
	var wg sync.WaitGroup

	states := make([]map[string]l2.LeaseState, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ks := order(g)
			a, err := ls.LeaseMany(t.Context(), token(g), long, ks, make([][]byte, n))
			if err != nil {
				t.Errorf("goroutine %d: LeaseMany: %v", g, err)
				return
			}
			if len(a) != n {
				t.Errorf("goroutine %d: LeaseMany of %d keys returned %d answers", g, n, len(a))
				return
			}
			states[g] = make(map[string]l2.LeaseState, n)
			for i, k := range ks {
				if a[i].Value != nil {
					t.Errorf("goroutine %d: LeaseMany answered %v, %q for %s; want no value", g, a[i].State, a[i].Value, k)
				}
				states[g][k] = a[i].State
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	winner := make(map[string]int, n)
	for _, k := range keys {
		winner[k] = -1
		for g := range goroutines {
			switch st := states[g][k]; st {
			case l2.LeaseGranted:
				if winner[k] >= 0 {
					t.Errorf("%s: goroutines %d and %d both got the lease", k, winner[k], g)
				}
				winner[k] = g
			case l2.LeaseHeld:
			default:
				t.Errorf("%s: goroutine %d: LeaseMany of an absent key = %v, want granted or held", k, g, st)
			}
		}
		if winner[k] < 0 {
			t.Errorf("%s: none of %d goroutines got the lease", k, goroutines)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// All store every key at once: only its holder does.
	stored := make([]map[string]bool, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ks := order(g)
			items := make([]l2.CondItem, n)
			for i, k := range ks {
				items[i] = cond(k, nil, value(g, k))
			}
			ok, err := ls.SetLeasedMany(t.Context(), token(g), items)
			if err != nil {
				t.Errorf("goroutine %d: SetLeasedMany: %v", g, err)
				return
			}
			if len(ok) != n {
				t.Errorf("goroutine %d: SetLeasedMany of %d items returned %d results", g, n, len(ok))
				return
			}
			stored[g] = make(map[string]bool, n)
			for i, k := range ks {
				stored[g][k] = ok[i]
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	want := make([][]byte, n)
	changed := make([]l2.LeaseAnswer, n)
	for i, k := range keys {
		for g := range goroutines {
			if stored[g][k] != (g == winner[k]) {
				t.Errorf("%s: goroutine %d: SetLeasedMany stored = %v, want %v (the holder is %d)", k, g, stored[g][k], g == winner[k], winner[k])
			}
		}
		want[i] = value(winner[k], k)
		changed[i] = l2.LeaseAnswer{State: l2.LeaseChanged, Value: want[i]}
	}
	wantSlots(t, keys, mustGetMany(t, s, keys), want)
	wantLeaseMany(t, ls, tokA, keys, make([][]byte, n), changed)
	wantLeaseMany(t, ls, tokA, keys, want, answers(n, l2.LeaseGranted)) // no lease is left
}

// testLeaseManyCanceledContext requires an error from LeaseMany,
// SetLeasedMany and Release of several keys given a canceled context, and
// that none of them happened.
func testLeaseManyCanceledContext(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v := []byte("v")
	mustSet(t, s, "k", v, long)
	wantLeaseMany(t, ls, tokA, []string{"k", "held"}, [][]byte{v, nil}, answers(2, l2.LeaseGranted))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	if a, err := ls.LeaseMany(ctx, tokB, long, []string{"k2", "k3"}, make([][]byte, 2)); err == nil {
		t.Errorf("LeaseMany(k2, k3) = %v, no error", a)
	}
	if a, err := ls.LeaseMany(ctx, tokB, long, []string{"k2"}, make([][]byte, 1)); err == nil {
		t.Errorf("LeaseMany(k2) = %v, no error", a)
	}
	if a, err := ls.LeaseMany(ctx, tokA, long, []string{"k", "held"}, [][]byte{v, nil}); err == nil {
		t.Errorf("LeaseMany(k, held) by their holder = %v, no error", a)
	}
	items := []l2.CondItem{cond("k", v, []byte("w")), cond("held", nil, []byte("w")), cond("k3", nil, []byte("w"))}
	if stored, err := ls.SetLeasedMany(ctx, tokA, items); err == nil {
		t.Errorf("SetLeasedMany = %v, no error", stored)
	}
	if stored, err := ls.SetLeasedMany(ctx, tokA, items[2:]); err == nil {
		t.Errorf("SetLeasedMany(k3) = %v, no error", stored)
	}
	if err := ls.Release(ctx, tokA, "k", "held"); err == nil {
		t.Error("Release(k, held): no error")
	}

	wantValue(t, s, "k", v)
	wantMiss(t, s, "held")
	wantMiss(t, s, "k3")
	// A holds its leases still; B got none.
	wantLeaseMany(t, ls, tokC, []string{"k", "held", "k2", "k3"}, [][]byte{v, nil, nil, nil},
		[]l2.LeaseAnswer{{State: l2.LeaseHeld}, {State: l2.LeaseHeld}, {State: l2.LeaseGranted}, {State: l2.LeaseGranted}})
}
