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

// The tests of l2.Leaser with many keys per call. Where they can, they run
// a scenario twice, on keys of their own, once with all the keys in one
// call and once with one key per call, and require the same answers and
// the same state after.
//
// Their keys are many and differ in more than a suffix ("k0" to "k99" and
// the like), so that on a Redis Cluster they spread over many slots and
// nodes, and a batch takes several pipelines.

// tokProbe is the token with which the tests look at who holds a lease.
var tokProbe = tok("probe token")

// expects returns the expectations of Lease: keys[i] holds olds[i].
func expects(keys []string, olds [][]byte) []l2.Expect {
	e := make([]l2.Expect, len(keys))
	for i, k := range keys {
		e[i] = l2.Expect{Key: k, Old: olds[i]}
	}
	return e
}

// mustLeaseAll calls Lease for keys, where keys[i] holds olds[i] (see
// mustLease).
func mustLeaseAll(t *testing.T, ls l2.Leaser, token l2.Token, ttl time.Duration, keys []string, olds [][]byte) []l2.LeaseAnswer {
	t.Helper()
	return mustLease(t, ls, token, ttl, expects(keys, olds))
}

// mustLease calls Lease and fails t on an error, or when it does not return
// one answer per key.
func mustLease(t *testing.T, ls l2.Leaser, token l2.Token, ttl time.Duration, keys []l2.Expect) []l2.LeaseAnswer {
	t.Helper()
	answers, err := ls.Lease(t.Context(), token, ttl, keys)
	if err != nil {
		t.Fatalf("Lease(token %s, %d keys): %v", tokName(token), len(keys), err)
	}
	if len(answers) != len(keys) {
		t.Fatalf("Lease(token %s, %d keys) returned %d answers", tokName(token), len(keys), len(answers))
	}
	return answers
}

// wantAnswers checks the answers of Lease (see checkLease).
func wantAnswers(t *testing.T, what string, keys []string, olds [][]byte, got, want []l2.LeaseAnswer) {
	t.Helper()
	for i := range want {
		checkLease(t, fmt.Sprintf("%s: answer %d (%q, old %q)", what, i, keys[i], olds[i]),
			got[i].State, got[i].Value, want[i].State, want[i].Value)
	}
}

// wantLeaseAll calls Lease for keys with TTL long and checks its answers.
func wantLeaseAll(t *testing.T, ls l2.Leaser, token l2.Token, keys []string, olds [][]byte, want []l2.LeaseAnswer) {
	t.Helper()
	got := mustLeaseAll(t, ls, token, long, keys, olds)
	wantAnswers(t, fmt.Sprintf("Lease(token %s)", tokName(token)), keys, olds, got, want)
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

// setLeasedAll calls SetLeased and fails t on an error, or when it does not
// return one result per item.
func setLeasedAll(t *testing.T, ls l2.Leaser, token l2.Token, items []l2.CondItem) []l2.LeaseResult {
	t.Helper()
	results, err := ls.SetLeased(t.Context(), token, items)
	if err != nil {
		t.Fatalf("SetLeased(token %s, %d items): %v", tokName(token), len(items), err)
	}
	if len(results) != len(items) {
		t.Fatalf("SetLeased(token %s, %d items) returned %d results", tokName(token), len(items), len(results))
	}
	return results
}

// mustSetLeasedAll calls SetLeased and returns whether each item stored.
func mustSetLeasedAll(t *testing.T, ls l2.Leaser, token l2.Token, items []l2.CondItem) []bool {
	t.Helper()
	results := setLeasedAll(t, ls, token, items)
	stored := make([]bool, len(results))
	for i, r := range results {
		stored[i] = r.Stored
	}
	return stored
}

// wantSetLeasedAll calls SetLeased and checks whether each item stored.
func wantSetLeasedAll(t *testing.T, ls l2.Leaser, token l2.Token, items []l2.CondItem, want []bool) {
	t.Helper()
	got := mustSetLeasedAll(t, ls, token, items)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("SetLeased(token %s) item %d (%q, old %q) stored = %v, want %v",
				tokName(token), i, items[i].Key, items[i].Old, got[i], want[i])
		}
	}
}

// mustReleaseAll calls Release and fails t on an error, or when it does not
// return one answer per key.
func mustReleaseAll(t *testing.T, ls l2.Leaser, token l2.Token, keys ...string) []bool {
	t.Helper()
	waited, err := ls.Release(t.Context(), token, keys...)
	if err != nil {
		t.Fatalf("Release(token %s, %d keys): %v", tokName(token), len(keys), err)
	}
	if len(waited) != len(keys) {
		t.Fatalf("Release(token %s, %d keys) returned %d answers", tokName(token), len(keys), len(waited))
	}
	return waited
}

// wantHolder checks that key holds value (nil: nothing) and that holder
// holds its lease, or nobody when holder is nil. A lease found free is
// left free; a held one is marked waited (the probe was refused), and
// granted again to its holder, for long.
func wantHolder(t *testing.T, s l2.Store, ls l2.Leaser, key string, value []byte, holder *l2.Token) {
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
	checkLease(t, fmt.Sprintf("Lease(%q) of a lease %s should hold", key, tokName(*holder)), st, cur, l2.LeaseHeld, nil)
	wantLease(t, ls, key, value, *holder, l2.LeaseGranted, nil)
}

// numbered returns the keys prefix+"0" to prefix+(n-1).
func numbered(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint(prefix, i)
	}
	return keys
}

func testLeaseBatch(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v, other := []byte("v"), []byte("other")
	bin := []byte("\x00\xff\r\n{}")

	t.Run("AgreesWithOneKey", func(t *testing.T) {
		// Token A asks for every key in one call, or for each in a call
		// of its own.
		tests := []struct {
			name   string
			setup  func(key string)
			old    []byte
			want   l2.LeaseAnswer
			value  []byte    // what the key holds after, nil: nothing
			holder *l2.Token // who holds the lease after, nil: nobody
		}{
			{"absent", nil, nil, l2.LeaseAnswer{State: l2.LeaseGranted}, nil, &tokA},
			{"match", func(k string) { mustSet(t, s, k, v, long) }, v, l2.LeaseAnswer{State: l2.LeaseGranted}, v, &tokA},
			{"match-empty", func(k string) { mustSet(t, s, k, []byte{}, long) }, []byte{},
				l2.LeaseAnswer{State: l2.LeaseGranted}, []byte{}, &tokA},
			{"match-binary", func(k string) { mustSet(t, s, k, bin, long) }, bin, l2.LeaseAnswer{State: l2.LeaseGranted}, bin, &tokA},
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
				l2.LeaseAnswer{State: l2.LeaseHeld}, nil, &tokB},
			{"held-present", func(k string) {
				mustSet(t, s, k, v, long)
				wantLease(t, ls, k, v, tokB, l2.LeaseGranted, nil)
			}, v, l2.LeaseAnswer{State: l2.LeaseHeld}, v, &tokB},
			// A different value wins over a held lease.
			{"held-changed", func(k string) {
				mustSet(t, s, k, v, long)
				wantLease(t, ls, k, v, tokB, l2.LeaseGranted, nil)
			}, other, l2.LeaseAnswer{State: l2.LeaseChanged, Value: v}, v, &tokB},
			{"held-gone", func(k string) { wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil) }, v,
				l2.LeaseAnswer{State: l2.LeaseChanged}, nil, &tokB},
			// Granted again to its holder.
			{"mine", func(k string) { wantLease(t, ls, k, nil, tokA, l2.LeaseGranted, nil) }, nil,
				l2.LeaseAnswer{State: l2.LeaseGranted}, nil, &tokA},
			{"mine-present", func(k string) {
				mustSet(t, s, k, v, long)
				wantLease(t, ls, k, v, tokA, l2.LeaseGranted, nil)
			}, v, l2.LeaseAnswer{State: l2.LeaseGranted}, v, &tokA},
			{"released", func(k string) {
				wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil)
				mustRelease(t, ls, k, tokB)
			}, nil, l2.LeaseAnswer{State: l2.LeaseGranted}, nil, &tokA},
			{"written-under-lease", func(k string) {
				wantLease(t, ls, k, nil, tokB, l2.LeaseGranted, nil)
				wantSetLeased(t, ls, k, tokB, nil, v, true)
			}, v, l2.LeaseAnswer{State: l2.LeaseGranted}, v, &tokA},
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

		many := mustLeaseAll(t, ls, tokA, long, manyKeys, olds)
		wantAnswers(t, "Lease(token A, all keys)", manyKeys, olds, many, want)
		one := make([]l2.LeaseAnswer, len(tests))
		for i, k := range oneKeys {
			one[i].State, one[i].Value = leaseFor(t, ls, k, olds[i], tokA, long)
		}
		wantAnswers(t, "Lease(token A, one key)", oneKeys, olds, one, want)
		for i := range tests {
			if !sameAnswer(many[i], one[i]) {
				t.Errorf("%s, old %q: Lease of all keys answered %v, %q; of one key %v, %q",
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
		wantLeaseAll(t, ls, tokA, keys, olds, want)
		// Again: A's grants are renewed, the rest is as it was.
		wantLeaseAll(t, ls, tokA, keys, olds, want)
		// C finds A's and B's leases held, and the changed keys changed.
		for i := range want {
			if want[i].State == l2.LeaseGranted {
				want[i].State = l2.LeaseHeld
			}
		}
		wantLeaseAll(t, ls, tokC, keys, olds, want)
	})

	t.Run("Duplicates", func(t *testing.T) {
		// A key may come more than once in one call. The same token asks
		// each time, so what follows a grant is granted again.
		wantLeaseAll(t, ls, tokA, []string{"dup", "dup", "dup-x", "dup"}, make([][]byte, 4), answers(4, l2.LeaseGranted))
		wantLease(t, ls, "dup", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "dup-x", nil, tokB, l2.LeaseHeld, nil)

		// Held by another: held each time.
		wantLease(t, ls, "dup-held", nil, tokB, l2.LeaseGranted, nil)
		wantLeaseAll(t, ls, tokA, []string{"dup-held", "dup-held"}, make([][]byte, 2), answers(2, l2.LeaseHeld))
		wantLease(t, ls, "dup-held", nil, tokC, l2.LeaseHeld, nil)
		wantLease(t, ls, "dup-held", nil, tokB, l2.LeaseGranted, nil)

		// Each occurrence has its old.
		mustSet(t, s, "dup-v", v, long)
		wantLeaseAll(t, ls, tokA, []string{"dup-v", "dup-v", "dup-v", "dup-v"}, [][]byte{other, v, nil, v},
			[]l2.LeaseAnswer{{State: l2.LeaseChanged, Value: v}, {State: l2.LeaseGranted}, {State: l2.LeaseChanged, Value: v}, {State: l2.LeaseGranted}})
		wantHolder(t, s, ls, "dup-v", v, &tokA)
	})

	t.Run("Args", func(t *testing.T) {
		for _, keys := range [][]l2.Expect{nil, {}} {
			got, err := ls.Lease(t.Context(), tokA, long, keys)
			if err != nil || len(got) != 0 {
				t.Errorf("Lease(keys %#v) = %v, %v; want no answers, no error", keys, got, err)
			}
		}
		for _, ttl := range []time.Duration{0, -time.Second} {
			keys := []l2.Expect{{Key: "args:1"}, {Key: "args:2"}}
			if got, err := ls.Lease(t.Context(), tokA, ttl, keys); err == nil {
				t.Errorf("Lease with TTL %v = %v, no error", ttl, got)
			}
		}
		// Wrong arguments are found before anything happens: A got
		// nothing.
		wantLeaseAll(t, ls, tokB, []string{"args:1", "args:2"}, make([][]byte, 2), answers(2, l2.LeaseGranted))
	})

	t.Run("Copies", func(t *testing.T) {
		// The values returned belong to the caller, each its own even
		// for the same key.
		mustSet(t, s, "copy", []byte("original"), long)
		keys := []string{"copy", "copy"}
		got := mustLeaseAll(t, ls, tokA, long, keys, make([][]byte, 2))
		want := []l2.LeaseAnswer{
			{State: l2.LeaseChanged, Value: []byte("original")},
			{State: l2.LeaseChanged, Value: []byte("original")},
		}
		wantAnswers(t, "Lease(copy, copy)", keys, make([][]byte, 2), got, want)
		if got[0].Value != nil {
			copy(got[0].Value, "XXXXXXXX")
		}
		checkLease(t, "the second answer after the first was modified", got[1].State, got[1].Value, l2.LeaseChanged, []byte("original"))
		wantValue(t, s, "copy", []byte("original"))
		wantLease(t, ls, "copy", nil, tokA, l2.LeaseChanged, []byte("original"))

		// The keys and their olds are the caller's: it may reuse them.
		mustSet(t, s, "exp-copy:2", []byte("o"), long)
		keys2 := []l2.Expect{{Key: "exp-copy:1"}, {Key: "exp-copy:2", Old: []byte("o")}}
		got = mustLease(t, ls, tokA, long, keys2)
		wantAnswers(t, "Lease(exp-copy:1, exp-copy:2)", []string{"exp-copy:1", "exp-copy:2"}, [][]byte{nil, []byte("o")},
			got, answers(2, l2.LeaseGranted))
		keys2[0].Key, keys2[1].Key = "exp-copy:x", "exp-copy:y"
		copy(keys2[1].Old, "p")
		wantLease(t, ls, "exp-copy:1", nil, tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "exp-copy:2", []byte("o"), tokB, l2.LeaseHeld, nil)
		wantLease(t, ls, "exp-copy:1", nil, tokA, l2.LeaseGranted, nil)
		wantLease(t, ls, "exp-copy:2", []byte("o"), tokA, l2.LeaseGranted, nil)
	})

	t.Run("Views", func(t *testing.T) {
		v1, v2 := views(t, s)
		l1, l2v := as[l2.Leaser](t, v1), as[l2.Leaser](t, v2)
		keys := []string{"a", "b"}
		wantLeaseAll(t, l1, tokA, keys, make([][]byte, 2), answers(2, l2.LeaseGranted))
		wantLeaseAll(t, l2v, tokB, keys, make([][]byte, 2), answers(2, l2.LeaseGranted)) // other keys
		wantLeaseAll(t, ls, tokC, keys, make([][]byte, 2), answers(2, l2.LeaseGranted))  // and others
		// Keys a and b of v1 are keys v1:a and v1:b of the store.
		wantLeaseAll(t, ls, tokC, []string{"v1:a", "v1:b", "v2:a"}, make([][]byte, 3), answers(3, l2.LeaseHeld))
		wantLeaseAll(t, ls, tokA, []string{"v1:a", "v1:b"}, make([][]byte, 2), answers(2, l2.LeaseGranted))

		wantSetLeasedAll(t, l1, tokA, []l2.CondItem{cond("a", nil, []byte("one"))}, []bool{true})
		wantValue(t, s, "v1:a", []byte("one"))
		wantMiss(t, v2, "a")
		mustReleaseAll(t, l1, tokA, "b", "a")
		wantLease(t, ls, "v1:b", nil, tokC, l2.LeaseGranted, nil)
		wantLease(t, l2v, "b", nil, tokC, l2.LeaseHeld, nil) // B's lease is untouched
	})
}

func testSetLeasedBatch(t *testing.T, h Harness) {
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
			after      []byte    // what the key holds after, nil: nothing
			holder     *l2.Token // who holds the lease after, nil: nobody
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
			{"other", func(k string) { leaseB(k, nil) }, nil, w, false, nil, &tokB},
			{"other-present", func(k string) { mustSet(t, s, k, v, long); leaseB(k, v) }, v, w, false, v, &tokB},
			{"other-wrong-old", func(k string) { mustSet(t, s, k, v, long); leaseB(k, v) }, other, w, false, v, &tokB},
			{"taken-over", func(k string) { leaseA(k, nil); mustRelease(t, ls, k, tokA); leaseB(k, nil) },
				nil, w, false, nil, &tokB},
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

		many := mustSetLeasedAll(t, ls, tokA, manyItems)
		one := make([]bool, len(tests))
		for i, it := range oneItems {
			one[i] = mustSetLeased(t, ls, it.Key, tokA, it.Old, it.Value, it.TTL)
		}
		for i, tc := range tests {
			if many[i] != tc.stored || one[i] != tc.stored {
				t.Errorf("%s (old %q): SetLeased of all items stored = %v, of one item %v; want %v", tc.name, tc.old, many[i], one[i], tc.stored)
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
		wantSetLeasedAll(t, ls, tokA, items, want)
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
			wantLeaseAll(t, ls, tokA, []string{good, good2, bad}, make([][]byte, 3), answers(3, l2.LeaseGranted))
			for _, items := range [][]l2.CondItem{
				{cond(good, nil, w), cond(good2, nil, w), {Item: l2.Item{Key: bad, Value: w, TTL: ttl}}},
				{{Item: l2.Item{Key: bad, Value: w, TTL: ttl}}, cond(good, nil, w), cond(good2, nil, w)},
			} {
				if stored, err := ls.SetLeased(t.Context(), tokA, items); err == nil {
					t.Errorf("SetLeased with TTL %v = %v, no error", ttl, stored)
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
			stored, err := ls.SetLeased(t.Context(), tokA, items)
			if err != nil || len(stored) != 0 {
				t.Errorf("SetLeased(%#v) = %v, %v; want no results, no error", items, stored, err)
			}
		}
	})

	t.Run("Copies", func(t *testing.T) {
		items := []l2.CondItem{cond("copy:1", nil, []byte("stored 1")), cond("copy:2", nil, []byte("stored 2"))}
		wantLeaseAll(t, ls, tokA, []string{"copy:1", "copy:2"}, make([][]byte, 2), answers(2, l2.LeaseGranted))
		wantSetLeasedAll(t, ls, tokA, items, []bool{true, true})
		copy(items[0].Value, "XXXXXXXX")
		copy(items[1].Value, "YYYYYYYY")
		wantValue(t, s, "copy:1", []byte("stored 1"))
		wantValue(t, s, "copy:2", []byte("stored 2"))
	})
}

func testReleaseBatch(t *testing.T, h Harness) {
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

		// Nobody was refused these leases: nobody waited.
		release := append(slices.Clone(keys), prefix+":never", keys[0], keys[1])
		waited := make([]bool, len(release))
		if prefix == "many" {
			waited = mustReleaseAll(t, ls, tokA, release...)
		} else {
			for i, k := range release {
				waited[i] = mustRelease(t, ls, k, tokA)
			}
		}
		if i := slices.Index(waited, true); i >= 0 {
			t.Errorf("%s: Release says that somebody waited for %q", prefix, release[i])
		}
		for i, k := range keys {
			var holder *l2.Token // A's leases ended
			if i%2 == 1 {
				holder = &tokB
			}
			wantHolder(t, s, ls, k, values[i], holder)
		}
		wantHolder(t, s, ls, prefix+":never", nil, nil)
		wantHolder(t, s, ls, kept, nil, &tokA)
	}

	// No keys: nothing to do, and no error.
	mustReleaseAll(t, ls, tokA)
	mustReleaseAll(t, ls, tokA, []string{}...)
	wantHolder(t, s, ls, "many:kept", nil, &tokA)
	wantHolder(t, s, ls, "many:k1", nil, &tokB)
}

// testLeaseBatchThenSet runs the tiered cache's batch protocol: Lease
// grants keys, SetLeased stores them all and ends the leases, and
// another token then leases them.
func testLeaseBatchThenSet(t *testing.T, h Harness) {
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
	wantLeaseAll(t, ls, tokA, keys, olds, answers(n, l2.LeaseGranted))
	wantLeaseAll(t, ls, tokB, keys, olds, answers(n, l2.LeaseHeld))
	// A stores them all, and learns that B waited for each.
	for i, res := range setLeasedAll(t, ls, tokA, items) {
		if want := (l2.LeaseResult{Stored: true, Waited: true}); res != want {
			t.Errorf("SetLeased(token A) item %d (%q) = %+v, want %+v", i, items[i].Key, res, want)
		}
	}
	wantSlots(t, keys, mustGetMany(t, s, keys), news)

	// A read older than the write is told the new value.
	changed := make([]l2.LeaseAnswer, n)
	for i := range changed {
		changed[i] = l2.LeaseAnswer{State: l2.LeaseChanged, Value: news[i]}
	}
	wantLeaseAll(t, ls, tokC, keys, olds, changed)
	// The leases are free: B gets them, C finds them held.
	wantLeaseAll(t, ls, tokB, keys, news, answers(n, l2.LeaseGranted))
	wantLeaseAll(t, ls, tokC, keys, news, answers(n, l2.LeaseHeld))
	// And A, whose leases ended, stores none of them again.
	wantSetLeasedAll(t, ls, tokA, items, make([]bool, n))
	wantSlots(t, keys, mustGetMany(t, s, keys), news)
}

// testLeaseBatchTTL checks that Lease grants for its TTL, that its
// holder renews with Lease, and that SetLeased writes with the TTL
// of each item.
func testLeaseBatchTTL(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v := []byte("v")
	short := shortTTL(h)

	start := time.Now()
	// Everything short-lived is written before the lease of "probe", so
	// that once another token gets "probe" all of it has expired.
	leased := []string{"renewed", "expired", "taken", "orphaned"}
	wantAnswers(t, "Lease(token A, short)", leased, make([][]byte, len(leased)),
		mustLeaseAll(t, ls, tokA, short, leased, make([][]byte, len(leased))), answers(len(leased), l2.LeaseGranted))
	wantLeaseAll(t, ls, tokA, []string{"set-short", "set-long"}, make([][]byte, 2), answers(2, l2.LeaseGranted))
	wantSetLeasedAll(t, ls, tokA, []l2.CondItem{
		{Item: l2.Item{Key: "set-short", Value: v, TTL: short}},
		cond("set-long", nil, v),
	}, []bool{true, true})
	wantAnswers(t, "Lease(probe, token A, short)", []string{"probe"}, [][]byte{nil},
		mustLeaseAll(t, ls, tokA, short, []string{"probe"}, [][]byte{nil}), answers(1, l2.LeaseGranted))
	wantLeaseAll(t, ls, tokA, []string{"renewed"}, [][]byte{nil}, answers(1, l2.LeaseGranted)) // now for long

	if h.Advance != nil {
		h.Advance(t, short-100*time.Millisecond)
		all := append([]string{"probe"}, leased...)
		wantLeaseAll(t, ls, tokB, all, make([][]byte, len(all)), answers(len(all), l2.LeaseHeld))
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
	wantLeaseAll(t, ls, tokB, []string{"taken", "renewed"}, make([][]byte, 2),
		[]l2.LeaseAnswer{{State: l2.LeaseGranted}, {State: l2.LeaseHeld}})
	// A stores where its lease expired untaken, and where it renewed it;
	// not where B took it, and B's lease stays.
	wantSetLeasedAll(t, ls, tokA, []l2.CondItem{cond("expired", nil, v), cond("taken", nil, v), cond("renewed", nil, v)},
		[]bool{true, false, true})
	// An expired lease is held by nobody: another token stores too.
	wantSetLeasedAll(t, ls, tokB, []l2.CondItem{cond("orphaned", nil, v)}, []bool{true})
	wantValue(t, s, "expired", v)
	wantMiss(t, s, "taken")
	wantValue(t, s, "renewed", v)
	wantValue(t, s, "orphaned", v)
	wantLease(t, ls, "taken", nil, tokC, l2.LeaseHeld, nil)
	wantSetLeasedAll(t, ls, tokB, []l2.CondItem{cond("taken", nil, []byte("b"))}, []bool{true})
	wantValue(t, s, "taken", []byte("b"))
	wantLeaseAll(t, ls, tokC, []string{"expired", "renewed", "orphaned"}, [][]byte{v, v, v}, answers(3, l2.LeaseGranted))
}

// testLeaseBatchConcurrent checks that when many callers ask for the same
// keys at once with Lease, each key is granted to exactly one of them,
// and only that one stores it with SetLeased.
func testLeaseBatchConcurrent(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	const goroutines, n = 8, 50
	keys := numbered("k", n)
	token := func(g int) l2.Token { return tok(fmt.Sprint("token ", g)) }
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
			a, err := ls.Lease(t.Context(), token(g), long, expects(ks, make([][]byte, n)))
			if err != nil {
				t.Errorf("goroutine %d: Lease: %v", g, err)
				return
			}
			if len(a) != n {
				t.Errorf("goroutine %d: Lease of %d keys returned %d answers", g, n, len(a))
				return
			}
			states[g] = make(map[string]l2.LeaseState, n)
			for i, k := range ks {
				if a[i].Value != nil {
					t.Errorf("goroutine %d: Lease answered %v, %q for %s; want no value", g, a[i].State, a[i].Value, k)
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
				t.Errorf("%s: goroutine %d: Lease of an absent key = %v, want granted or held", k, g, st)
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
			ok, err := ls.SetLeased(t.Context(), token(g), items)
			if err != nil {
				t.Errorf("goroutine %d: SetLeased: %v", g, err)
				return
			}
			if len(ok) != n {
				t.Errorf("goroutine %d: SetLeased of %d items returned %d results", g, n, len(ok))
				return
			}
			stored[g] = make(map[string]bool, n)
			for i, k := range ks {
				stored[g][k] = ok[i].Stored
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
				t.Errorf("%s: goroutine %d: SetLeased stored = %v, want %v (the holder is %d)", k, g, stored[g][k], g == winner[k], winner[k])
			}
		}
		want[i] = value(winner[k], k)
		changed[i] = l2.LeaseAnswer{State: l2.LeaseChanged, Value: want[i]}
	}
	wantSlots(t, keys, mustGetMany(t, s, keys), want)
	wantLeaseAll(t, ls, tokA, keys, make([][]byte, n), changed)
	wantLeaseAll(t, ls, tokA, keys, want, answers(n, l2.LeaseGranted)) // no lease is left
}

// testLeaseBatchCanceledContext requires an error from Lease,
// SetLeased and Release of several keys given a canceled context, and
// that none of them happened.
func testLeaseBatchCanceledContext(t *testing.T, h Harness) {
	s, ls := newOptional[l2.Leaser](t, h)
	v := []byte("v")
	mustSet(t, s, "k", v, long)
	wantLeaseAll(t, ls, tokA, []string{"k", "held"}, [][]byte{v, nil}, answers(2, l2.LeaseGranted))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	if a, err := ls.Lease(ctx, tokB, long, expects([]string{"k2", "k3"}, make([][]byte, 2))); err == nil {
		t.Errorf("Lease(k2, k3) = %v, no error", a)
	}
	if a, err := ls.Lease(ctx, tokB, long, expects([]string{"k2"}, make([][]byte, 1))); err == nil {
		t.Errorf("Lease(k2) = %v, no error", a)
	}
	if a, err := ls.Lease(ctx, tokA, long, expects([]string{"k", "held"}, [][]byte{v, nil})); err == nil {
		t.Errorf("Lease(k, held) by their holder = %v, no error", a)
	}
	items := []l2.CondItem{cond("k", v, []byte("w")), cond("held", nil, []byte("w")), cond("k3", nil, []byte("w"))}
	if stored, err := ls.SetLeased(ctx, tokA, items); err == nil {
		t.Errorf("SetLeased = %v, no error", stored)
	}
	if stored, err := ls.SetLeased(ctx, tokA, items[2:]); err == nil {
		t.Errorf("SetLeased(k3) = %v, no error", stored)
	}
	if _, err := ls.Release(ctx, tokA, "k", "held"); err == nil {
		t.Error("Release(k, held): no error")
	}

	wantValue(t, s, "k", v)
	wantMiss(t, s, "held")
	wantMiss(t, s, "k3")
	// A holds its leases still; B got none.
	wantLeaseAll(t, ls, tokC, []string{"k", "held", "k2", "k3"}, [][]byte{v, nil, nil, nil},
		[]l2.LeaseAnswer{{State: l2.LeaseHeld}, {State: l2.LeaseHeld}, {State: l2.LeaseGranted}, {State: l2.LeaseGranted}})
}
