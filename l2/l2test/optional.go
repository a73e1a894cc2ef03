package l2test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// The tests of the optional interfaces l2.Conditional, l2.Tagger and
// l2.PrefixDeleter, and the helpers of every test of an optional interface.

// abilityOf returns the ability that declares the interface I.
func abilityOf[I any]() l2.Ability {
	switch any((*I)(nil)).(type) {
	case *l2.Namespacer:
		return l2.Namespaces
	case *l2.Conditional:
		return l2.ConditionalWrites
	case *l2.Leaser:
		return l2.Leases
	case *l2.Tagger:
		return l2.Tags
	case *l2.PrefixDeleter:
		return l2.Prefixes
	case *l2.Stager:
		return l2.Staging
	case *l2.LeaseReader:
		return l2.LeaseReads
	}
	panic(fmt.Sprintf("l2test: %v is no optional interface of l2", reflect.TypeFor[I]()))
}

// optional returns s as an I, and whether s declares the ability of I: the
// suite tests what a store declares, not what it happens to implement (a
// wrapper may turn an ability off that way). A store that declares the
// ability without implementing I fails t.
func optional[I any](t *testing.T, s l2.Store) (I, bool) {
	t.Helper()
	var zero I
	a := abilityOf[I]()
	if !s.Abilities().Has(a) {
		return zero, false
	}
	i, ok := s.(I)
	if !ok {
		t.Fatalf("%T declares %v but does not implement %v", s, a, reflect.TypeFor[I]())
	}
	return i, true
}

// newOptional returns a store from h and the same store as an I, or skips
// t when the store does not declare the ability of I.
func newOptional[I any](t *testing.T, h Harness) (l2.Store, I) {
	t.Helper()
	s := h.New(t)
	i, ok := optional[I](t, s)
	if !ok {
		t.Skipf("%T does not declare %v", s, abilityOf[I]())
	}
	return s, i
}

// as returns s as an I, failing t when it does not declare and implement
// it: a view has the abilities of its store.
func as[I any](t *testing.T, s l2.Store) I {
	t.Helper()
	i, ok := optional[I](t, s)
	if !ok {
		t.Fatalf("%T does not declare %v", s, abilityOf[I]())
	}
	return i
}

// views returns two views of s, v1 and v2, or skips t when s does not
// declare l2.Namespaces.
func views(t *testing.T, s l2.Store) (v1, v2 l2.Store) {
	t.Helper()
	ns, ok := optional[l2.Namespacer](t, s)
	if !ok {
		t.Skipf("%T does not declare %v", s, l2.Namespaces)
	}
	return ns.Namespace("v1"), ns.Namespace("v2")
}

func mustSetIf(t *testing.T, c l2.Conditional, key string, old, value []byte, ttl time.Duration) bool {
	t.Helper()
	ok, err := c.SetIf(t.Context(), condTTL(key, old, value, ttl))
	if err != nil {
		t.Fatalf("SetIf(%q, old %q): %v", key, old, err)
	}
	return ok
}

func testSetIf(t *testing.T, h Harness) {
	s, c := newOptional[l2.Conditional](t, h)
	mustSet(t, s, "set", []byte("a"), long)
	// The steps run in order, on shared keys; want is the value after the
	// step, nil for a miss.
	steps := []struct {
		name       string
		key        string
		old, value []byte
		stored     bool
		want       []byte
	}{
		{"Absent", "k", nil, []byte("v1"), true, []byte("v1")},
		{"PresentOldNil", "k", nil, []byte("v2"), false, []byte("v1")},
		{"Mismatch", "k", []byte("other"), []byte("v2"), false, []byte("v1")},
		{"MismatchPrefix", "k", []byte("v"), []byte("v2"), false, []byte("v1")},
		{"MismatchLonger", "k", []byte("v1x"), []byte("v2"), false, []byte("v1")},
		{"MismatchEmpty", "k", []byte{}, []byte("v2"), false, []byte("v1")},
		{"Match", "k", []byte("v1"), []byte("v2"), true, []byte("v2")},
		{"MatchToEmpty", "k", []byte("v2"), []byte{}, true, []byte{}},
		{"EmptyIsNotAbsent", "k", nil, []byte("v3"), false, []byte{}},
		{"MatchEmpty", "k", []byte{}, []byte("v4"), true, []byte("v4")},
		{"MatchToNil", "k", []byte("v4"), nil, true, []byte{}},
		{"AbsentOld", "absent", []byte("v1"), []byte("x"), false, nil},
		{"AbsentOldEmpty", "absent", []byte{}, []byte("x"), false, nil},
		{"WrittenBySet", "set", []byte("a"), []byte("b"), true, []byte("b")},
		{"Binary", "b\x00{}", nil, []byte("\x00\xff\r\n"), true, []byte("\x00\xff\r\n")},
		{"BinaryMatch", "b\x00{}", []byte("\x00\xff\r\n"), []byte("y"), true, []byte("y")},
		{"BinaryMismatch", "b\x00{}", []byte("y\x00"), []byte("z"), false, []byte("y")},
	}
	for _, st := range steps {
		if got := mustSetIf(t, c, st.key, st.old, st.value, long); got != st.stored {
			t.Errorf("%s: SetIf(%q, old %q, %q) = %v, want %v", st.name, st.key, st.old, st.value, got, st.stored)
		}
		if st.want == nil {
			wantMiss(t, s, st.key)
		} else {
			wantValue(t, s, st.key, st.want)
		}
	}

	// A deleted key is absent.
	mustDelete(t, s, "k")
	if mustSetIf(t, c, "k", []byte("v4"), []byte("x"), long) {
		t.Error("SetIf(old = the deleted value) stored")
	}
	if !mustSetIf(t, c, "k", nil, []byte("again"), long) {
		t.Error("SetIf(old nil) after Delete did not store")
	}
	wantValue(t, s, "k", []byte("again"))

	// The value passed in is copied.
	buf := []byte("copied")
	if !mustSetIf(t, c, "copy", nil, buf, long) {
		t.Fatal("SetIf(copy, old nil) did not store")
	}
	copy(buf, "XXXXXX")
	wantValue(t, s, "copy", []byte("copied"))

	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := c.SetIf(t.Context(), condTTL("bad", nil, []byte("v"), ttl)); err == nil {
			t.Errorf("SetIf with TTL %v: no error", ttl)
		}
		wantMiss(t, s, "bad")
	}
}

// cond returns a conditional write of value under key, for TTL long.
func cond(key string, old, value []byte) l2.CondItem {
	return condTTL(key, old, value, long)
}

// condTTL returns a conditional write of value under key, for ttl.
func condTTL(key string, old, value []byte, ttl time.Duration) l2.CondItem {
	return l2.CondItem{Item: l2.Item{Key: key, Value: value, TTL: ttl}, Old: old}
}

func mustSetManyIf(t *testing.T, c l2.Conditional, items []l2.CondItem) []bool {
	t.Helper()
	stored, err := c.SetManyIf(t.Context(), items)
	if err != nil {
		t.Fatalf("SetManyIf(%d items): %v", len(items), err)
	}
	if len(stored) != len(items) {
		t.Fatalf("SetManyIf(%d items) returned %d results", len(items), len(stored))
	}
	return stored
}

// wantStored checks SetManyIf's result against want.
func wantStored(t *testing.T, items []l2.CondItem, got, want []bool) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("SetManyIf item %d (%q, old %q) stored = %v, want %v", i, items[i].Key, items[i].Old, got[i], want[i])
		}
	}
}

func testSetManyIf(t *testing.T, h Harness) {
	s, c := newOptional[l2.Conditional](t, h)

	t.Run("Empty", func(t *testing.T) {
		for _, items := range [][]l2.CondItem{nil, {}} {
			stored, err := c.SetManyIf(t.Context(), items)
			if err != nil || len(stored) != 0 {
				t.Errorf("SetManyIf(%#v) = %v, %v; want no results, no error", items, stored, err)
			}
		}
	})

	t.Run("Mixed", func(t *testing.T) {
		mustSet(t, s, "present", []byte("p"), long)
		mustSet(t, s, "match", []byte("m"), long)
		mustSet(t, s, "mismatch", []byte("m"), long)
		mustSet(t, s, "empty", []byte{}, long)
		tests := []struct {
			item   l2.CondItem
			stored bool
			want   []byte // the value after the call, nil for a miss
		}{
			{cond("absent", nil, []byte("a")), true, []byte("a")},
			{cond("present", nil, []byte("p2")), false, []byte("p")},
			{cond("match", []byte("m"), []byte("m2")), true, []byte("m2")},
			{cond("mismatch", []byte("x"), []byte("m2")), false, []byte("m")},
			{cond("absent-old", []byte("a"), []byte("x")), false, nil},
			{cond("empty", []byte{}, []byte("e")), true, []byte("e")},
			{cond("nil-value", nil, nil), true, []byte{}},
			{cond("b\x00{}", nil, []byte("\x00\xff\r\n")), true, []byte("\x00\xff\r\n")},
		}
		items := make([]l2.CondItem, len(tests))
		want := make([]bool, len(tests))
		for i, tc := range tests {
			items[i], want[i] = tc.item, tc.stored
		}
		wantStored(t, items, mustSetManyIf(t, c, items), want)
		for _, tc := range tests {
			if tc.want == nil {
				wantMiss(t, s, tc.item.Key)
			} else {
				wantValue(t, s, tc.item.Key, tc.want)
			}
		}
	})

	t.Run("Order", func(t *testing.T) {
		// Enough keys to span every shard of a cluster, in reverse order,
		// so that no store can pass by sorting: by i%4 an absent key with
		// old nil (stored), a present one with old nil (not), a matching
		// old (stored) and a mismatching one (not).
		const n = 200
		items := make([]l2.CondItem, n)
		want := make([]bool, n)
		for i := range n {
			k := fmt.Sprint("order:", n-i)
			old := []byte("old " + k)
			if i%4 != 0 {
				mustSet(t, s, k, old, long)
			}
			switch i % 4 {
			case 0, 1:
				old = nil
			case 3:
				old = []byte("other")
			}
			items[i] = cond(k, old, []byte("new "+k))
			want[i] = i%2 == 0
		}
		wantStored(t, items, mustSetManyIf(t, c, items), want)
		keys := make([]string, n)
		vals := make([][]byte, n)
		for i, it := range items {
			keys[i] = it.Key
			vals[i] = it.Value
			if !want[i] {
				vals[i] = []byte("old " + it.Key)
			}
		}
		wantSlots(t, keys, mustGetMany(t, s, keys), vals)
	})

	t.Run("Copies", func(t *testing.T) {
		buf := []byte("copied")
		mustSetManyIf(t, c, []l2.CondItem{cond("copy", nil, buf)})
		copy(buf, "XXXXXX")
		wantValue(t, s, "copy", []byte("copied"))
	})

	t.Run("TTLNotPositive", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, -time.Second} {
			bad := cond("bad", nil, []byte("v"))
			bad.TTL = ttl
			items := []l2.CondItem{cond("good", nil, []byte("v")), bad}
			if _, err := c.SetManyIf(t.Context(), items); err == nil {
				t.Errorf("SetManyIf with TTL %v: no error", ttl)
			}
			wantMiss(t, s, "bad")
		}
	})

	t.Run("Views", func(t *testing.T) {
		v1, v2 := views(t, s)
		c1 := as[l2.Conditional](t, v1)
		mustSet(t, v1, "k", []byte("v"), long)
		mustSet(t, v2, "k", []byte("v"), long)
		items := []l2.CondItem{
			cond("k", []byte("v"), []byte("w")),
			cond("new", nil, []byte("n")),
		}
		wantStored(t, items, mustSetManyIf(t, c1, items), []bool{true, true})
		wantValue(t, v1, "k", []byte("w"))
		wantValue(t, v2, "k", []byte("v"))
		wantMiss(t, v2, "new")
		// Key k of the view is key v1:k of the store.
		wantValue(t, s, "v1:new", []byte("n"))
		items = []l2.CondItem{
			cond("v1:new", nil, []byte("x")),
			cond("v1:k", []byte("w"), []byte("x")),
		}
		wantStored(t, items, mustSetManyIf(t, c, items), []bool{false, true})
		wantValue(t, v1, "k", []byte("x"))
	})
}

// testSetIfTTL checks that SetIf and SetManyIf write with their TTLs and
// that an expired key counts as absent.
func testSetIfTTL(t *testing.T, h Harness) {
	s, c := newOptional[l2.Conditional](t, h)
	v := []byte("v")
	short := shortTTL(h)
	mustSet(t, s, "expired", v, short)
	if !mustSetIf(t, c, "short", nil, v, short) {
		t.Fatal("SetIf(short, old nil) did not store")
	}
	mustSet(t, s, "swapped", v, long)
	if !mustSetIf(t, c, "swapped", v, []byte("w"), short) {
		t.Fatal("SetIf(swapped, old v) did not store")
	}
	mustSet(t, s, "many-swapped", v, long)
	items := []l2.CondItem{
		cond("many-short", nil, v),
		cond("many-long", nil, v),
		cond("many-swapped", v, []byte("w")),
	}
	items[0].TTL, items[2].TTL = short, short
	wantStored(t, items, mustSetManyIf(t, c, items), []bool{true, true, true})
	shortKeys := []string{"short", "swapped", "many-short", "many-swapped"}
	if h.Advance != nil {
		h.Advance(t, short-100*time.Millisecond)
		wantValue(t, s, "short", v)
		wantValue(t, s, "swapped", []byte("w"))
		wantValue(t, s, "many-short", v)
		wantValue(t, s, "many-swapped", []byte("w"))
		h.Advance(t, 200*time.Millisecond)
	} else {
		waitMiss(t, s, "expired")
		for _, k := range shortKeys {
			waitMiss(t, s, k)
		}
	}
	wantMiss(t, s, "expired")
	for _, k := range shortKeys {
		wantMiss(t, s, k)
	}
	wantValue(t, s, "many-long", v)

	if mustSetIf(t, c, "expired", v, []byte("x"), long) {
		t.Error("SetIf(old = the expired value) stored")
	}
	if !mustSetIf(t, c, "expired", nil, []byte("x"), long) {
		t.Error("SetIf(old nil) on an expired key did not store")
	}
	wantValue(t, s, "expired", []byte("x"))
	items = []l2.CondItem{
		cond("many-short", v, []byte("x")),
		cond("many-swapped", nil, []byte("x")),
	}
	wantStored(t, items, mustSetManyIf(t, c, items), []bool{false, true})
	wantMiss(t, s, "many-short")
	wantValue(t, s, "many-swapped", []byte("x"))
}

// testSetIfConcurrent checks that the comparison and the write are one
// step: one of many writers of an absent key wins, alone or in batches, and
// increments by compare-and-set lose none.
func testSetIfConcurrent(t *testing.T, h Harness) {
	s, c := newOptional[l2.Conditional](t, h)
	const goroutines = 8

	var wins atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			v := fmt.Appendf(nil, "writer %d", g)
			ok, err := c.SetIf(t.Context(), cond("race", nil, v))
			if err != nil {
				t.Errorf("goroutine %d: SetIf: %v", g, err)
				return
			}
			if ok {
				wins.Add(1)
				winner.Store(v)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d writers of an absent key stored, want 1", n)
	}
	wantValue(t, s, "race", winner.Load().([]byte))

	// Each key of batches written concurrently has one winner too.
	const batch = 10
	var batchWins [batch]atomic.Int32
	for g := range goroutines {
		wg.Go(func() {
			items := make([]l2.CondItem, batch)
			for i := range items {
				items[i] = cond(fmt.Sprint("batch:", i), nil, fmt.Appendf(nil, "writer %d", g))
			}
			stored, err := c.SetManyIf(t.Context(), items)
			if err != nil {
				t.Errorf("goroutine %d: SetManyIf: %v", g, err)
				return
			}
			for i, ok := range stored {
				if ok {
					batchWins[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for i := range batchWins {
		if n := batchWins[i].Load(); n != 1 {
			t.Errorf("%d batch writers of the absent key batch:%d stored, want 1", n, i)
		}
	}

	const increments = 20
	mustSet(t, s, "counter", []byte("0"), long)
	for g := range goroutines {
		wg.Go(func() {
			ctx := t.Context()
			for range increments {
				for {
					old, err := s.Get(ctx, "counter")
					if err != nil {
						t.Errorf("goroutine %d: Get: %v", g, err)
						return
					}
					n, err := strconv.Atoi(string(old))
					if err != nil {
						t.Errorf("goroutine %d: counter holds %q", g, old)
						return
					}
					ok, err := c.SetIf(ctx, cond("counter", old, strconv.AppendInt(nil, int64(n+1), 10)))
					if err != nil {
						t.Errorf("goroutine %d: SetIf: %v", g, err)
						return
					}
					if ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	wantValue(t, s, "counter", []byte(strconv.Itoa(goroutines*increments)))
}

func mustTag(t *testing.T, tg l2.Tagger, tags, keys []string, ttl time.Duration) {
	t.Helper()
	if err := tg.Tag(t.Context(), tags, keys, ttl); err != nil {
		t.Fatalf("Tag(%q, %d keys): %v", tags, len(keys), err)
	}
}

func mustPop(t *testing.T, tg l2.Tagger, tag string, count int) []string {
	t.Helper()
	keys, err := tg.PopTagged(t.Context(), tag, count)
	if err != nil {
		t.Fatalf("PopTagged(%q, %d): %v", tag, count, err)
	}
	if len(keys) > count {
		t.Fatalf("PopTagged(%q, %d) returned %d keys", tag, count, len(keys))
	}
	return keys
}

// popAll pops the index of tag in batches of count until it is empty, and
// returns the keys, sorted. It fails t when a key comes twice.
func popAll(t *testing.T, tg l2.Tagger, tag string, count int) []string {
	t.Helper()
	seen := make(map[string]bool)
	for {
		keys := mustPop(t, tg, tag, count)
		if len(keys) == 0 {
			break
		}
		for _, k := range keys {
			if seen[k] {
				t.Fatalf("PopTagged(%q) returned %q twice", tag, k)
			}
			seen[k] = true
		}
	}
	return sortedKeys(seen)
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sorted returns a sorted copy of keys without duplicates.
func sorted(keys ...string) []string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return slices.Compact(keys)
}

// wantKeys checks that got holds the keys of want (both sorted).
func wantKeys(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		if len(got) > 20 || len(want) > 20 {
			t.Errorf("%s: %d keys, want %d (or other keys)", what, len(got), len(want))
			return
		}
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func testTag(t *testing.T, h Harness) {
	s, tg := newOptional[l2.Tagger](t, h)

	t.Run("Absent", func(t *testing.T) {
		if keys := mustPop(t, tg, "never-tagged", 10); len(keys) != 0 {
			t.Errorf("PopTagged of an absent tag = %q, want none", keys)
		}
	})

	t.Run("PopAllInBatches", func(t *testing.T) {
		// More than a thousand keys in one Tag, and two tags.
		keys := make([]string, 2500)
		for i := range keys {
			keys[i] = fmt.Sprint("key:", i)
		}
		mustTag(t, tg, []string{"all", "other"}, keys, long)
		want := sorted(keys...)
		wantKeys(t, "popped all", popAll(t, tg, "all", 300), want)
		wantKeys(t, "popped other", popAll(t, tg, "other", 1000), want)
		if keys := mustPop(t, tg, "all", 10); len(keys) != 0 {
			t.Errorf("PopTagged after popping all = %q, want none", keys)
		}
	})

	t.Run("Duplicates", func(t *testing.T) {
		mustTag(t, tg, []string{"dup", "dup"}, []string{"a", "b", "a"}, long)
		mustTag(t, tg, []string{"dup"}, []string{"b", "c"}, long)
		wantKeys(t, "popped", popAll(t, tg, "dup", 2), []string{"a", "b", "c"})
	})

	t.Run("TagAfterPop", func(t *testing.T) {
		mustTag(t, tg, []string{"again"}, []string{"x"}, long)
		wantKeys(t, "first pop", mustPop(t, tg, "again", 10), []string{"x"})
		mustTag(t, tg, []string{"again"}, []string{"y"}, long)
		wantKeys(t, "pop after the second Tag", mustPop(t, tg, "again", 10), []string{"y"})
	})

	t.Run("NoTagsNoKeys", func(t *testing.T) {
		mustTag(t, tg, nil, []string{"a"}, long)
		mustTag(t, tg, []string{"none"}, nil, long)
		if keys := mustPop(t, tg, "none", 10); len(keys) != 0 {
			t.Errorf("PopTagged after a Tag of no keys = %q, want none", keys)
		}
	})

	t.Run("OddNames", func(t *testing.T) {
		tags := []string{"", "a}b", "{x}", "{", "}", "|tag|", ":", "a:b", "a|b", "t\x00\xff", "tag"}
		odd := []string{"", "a}b", "{k}", "x:y", "|tag|z", "\x00\xff", "tag"}
		for i, tag := range tags {
			mustTag(t, tg, []string{tag}, append([]string{fmt.Sprint("only:", i)}, odd...), long)
		}
		for i, tag := range tags {
			want := sorted(append([]string{fmt.Sprint("only:", i)}, odd...)...)
			wantKeys(t, fmt.Sprintf("popped %q", tag), popAll(t, tg, tag, 3), want)
		}
	})

	t.Run("TagsAreNotKeys", func(t *testing.T) {
		mustSet(t, s, "shared", []byte("value"), long)
		mustTag(t, tg, []string{"shared"}, []string{"k1"}, long)
		wantValue(t, s, "shared", []byte("value"))
		mustDelete(t, s, "shared")
		mustSet(t, s, "shared", []byte("new"), long)
		wantKeys(t, "popped", mustPop(t, tg, "shared", 10), []string{"k1"})
		wantValue(t, s, "shared", []byte("new"))
	})

	t.Run("Views", func(t *testing.T) {
		v1, v2 := views(t, s)
		t1, t2 := as[l2.Tagger](t, v1), as[l2.Tagger](t, v2)
		mustTag(t, t1, []string{"t"}, []string{"42"}, long)
		mustTag(t, t2, []string{"t"}, []string{"43"}, long)
		mustTag(t, tg, []string{"t"}, []string{"44"}, long)
		if keys := mustPop(t, tg, "v1:t", 10); len(keys) != 0 {
			t.Errorf("the store's tag v1:t holds %q, want none", keys)
		}
		wantKeys(t, "popped from the store", mustPop(t, tg, "t", 10), []string{"44"})
		wantKeys(t, "popped from v2", mustPop(t, t2, "t", 10), []string{"43"})

		// Keys come back in the view's form, ready for its Delete.
		mustSet(t, v1, "42", []byte("v"), long)
		keys := mustPop(t, t1, "t", 10)
		wantKeys(t, "popped from v1", keys, []string{"42"})
		mustDelete(t, v1, keys...)
		wantMiss(t, v1, "42")
	})
}

// testTagLifetime checks that Tag extends the lifetime of an index and
// never shortens it.
func testTagLifetime(t *testing.T, h Harness) {
	if h.Advance == nil {
		t.Skip("needs Harness.Advance")
	}
	_, tg := newOptional[l2.Tagger](t, h)
	mustTag(t, tg, []string{"grow"}, []string{"a"}, 2*time.Second)
	mustTag(t, tg, []string{"keep"}, []string{"a"}, 10*time.Second)
	h.Advance(t, time.Second)
	mustTag(t, tg, []string{"grow"}, []string{"b"}, 10*time.Second) // now lives until 11 s
	mustTag(t, tg, []string{"keep"}, []string{"b"}, 2*time.Second)  // still until 10 s, not 3 s
	h.Advance(t, 4*time.Second)                                     // 5 s
	wantKeys(t, "grow, extended", popAll(t, tg, "grow", 10), []string{"a", "b"})
	wantKeys(t, "keep, not shortened", popAll(t, tg, "keep", 10), []string{"a", "b"})
}

// testTagConcurrent tags keys from some goroutines while others pop them:
// every key tagged is popped exactly once.
func testTagConcurrent(t *testing.T, h Harness) {
	_, tg := newOptional[l2.Tagger](t, h)
	const (
		taggers = 4
		poppers = 4
		perTag  = 5
		rounds  = 40
	)
	var (
		mu     sync.Mutex
		popped = make(map[string]int)
		done   atomic.Bool
		wg     sync.WaitGroup
		pwg    sync.WaitGroup
	)
	pop := func(ctx context.Context) (int, error) {
		keys, err := tg.PopTagged(ctx, "busy", 7)
		mu.Lock()
		for _, k := range keys {
			popped[k]++
		}
		mu.Unlock()
		return len(keys), err
	}
	for g := range poppers {
		pwg.Go(func() {
			for {
				last := done.Load() // read before the pop: nothing is tagged after it
				n, err := pop(t.Context())
				if err != nil {
					t.Errorf("popper %d: %v", g, err)
					return
				}
				if n == 0 && last {
					return
				}
			}
		})
	}
	for g := range taggers {
		wg.Go(func() {
			for r := range rounds {
				keys := make([]string, perTag)
				for i := range keys {
					keys[i] = fmt.Sprintf("g%d:r%d:k%d", g, r, i)
				}
				if err := tg.Tag(t.Context(), []string{"busy"}, keys, long); err != nil {
					t.Errorf("tagger %d: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
	done.Store(true)
	pwg.Wait()
	if len(popped) != taggers*rounds*perTag {
		t.Errorf("popped %d distinct keys, want %d", len(popped), taggers*rounds*perTag)
	}
	for k, n := range popped {
		if n != 1 {
			t.Errorf("key %q popped %d times", k, n)
		}
	}
}

// deletePrefix runs DeletePrefix and returns the keys reported, sorted. It
// fails t when a batch is empty or a key comes twice.
func deletePrefix(t *testing.T, pd l2.PrefixDeleter, prefix string, count int) []string {
	t.Helper()
	seen := make(map[string]bool)
	err := pd.DeletePrefix(t.Context(), prefix, count, func(keys []string) error {
		if len(keys) == 0 {
			t.Errorf("DeletePrefix(%q) reported an empty batch", prefix)
		}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("DeletePrefix(%q) reported %q twice", prefix, k)
			}
			seen[k] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("DeletePrefix(%q, %d): %v", prefix, count, err)
	}
	return sortedKeys(seen)
}

// setAll writes every key with its own name as value.
func setAll(t *testing.T, s l2.Store, keys ...string) {
	t.Helper()
	items := make([]l2.Item, len(keys))
	for i, k := range keys {
		items[i] = l2.Item{Key: k, Value: []byte(k), TTL: long}
	}
	mustSetMany(t, s, items)
}

// wantPresent checks that every key holds its own name; wantGone that
// every key is a miss.
func wantPresent(t *testing.T, s l2.Store, keys ...string) {
	t.Helper()
	vals := mustGetMany(t, s, keys)
	for i, k := range keys {
		if string(vals[i]) != k || vals[i] == nil {
			t.Errorf("key %q holds %q, want its name", k, vals[i])
		}
	}
}

func wantGone(t *testing.T, s l2.Store, keys ...string) {
	t.Helper()
	vals := mustGetMany(t, s, keys)
	for i, k := range keys {
		if vals[i] != nil {
			t.Errorf("key %q holds %q, want a miss", k, vals[i])
		}
	}
}

func testDeletePrefix(t *testing.T, h Harness) {
	s, pd := newOptional[l2.PrefixDeleter](t, h)

	t.Run("NoMatch", func(t *testing.T) {
		setAll(t, s, "nomatch")
		if keys := deletePrefix(t, pd, "absent:", 10); len(keys) != 0 {
			t.Errorf("deleted %q, want none", keys)
		}
		wantPresent(t, s, "nomatch")
	})

	t.Run("GlobCharacters", func(t *testing.T) {
		// The prefix holds glob syntax, which must match only itself.
		in := []string{"a*[b]?", "a*[b]?x", "a*[b]?:y", `a*[b]?\`, "a*[b]?*"}
		out := []string{"a*[b]", "a*[b]!x", "aZZb!", "ab?", "a*b?x", "a*[c]?x", "A*[b]?", "xa*[b]?"}
		setAll(t, s, in...)
		setAll(t, s, out...)
		wantKeys(t, `DeletePrefix("a*[b]?")`, deletePrefix(t, pd, "a*[b]?", 100), sorted(in...))
		wantGone(t, s, in...)
		wantPresent(t, s, out...)

		in = []string{`b\`, `b\1`, `b\\`}
		out = []string{"b", "b1", `c\`}
		setAll(t, s, in...)
		setAll(t, s, out...)
		wantKeys(t, `DeletePrefix("b\\")`, deletePrefix(t, pd, `b\`, 100), sorted(in...))
		wantGone(t, s, in...)
		wantPresent(t, s, out...)
	})

	t.Run("Batches", func(t *testing.T) {
		in := make([]string, 250)
		for i := range in {
			in[i] = fmt.Sprintf("p:%03d", i)
		}
		out := []string{"p", "p;1", "P:1", "xp:1", "q:p:1"}
		setAll(t, s, in...)
		setAll(t, s, out...)
		wantKeys(t, `DeletePrefix("p:")`, deletePrefix(t, pd, "p:", 10), in)
		wantGone(t, s, in...)
		wantPresent(t, s, out...)
	})

	t.Run("StopOnError", func(t *testing.T) {
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = fmt.Sprint("stop:", i)
		}
		setAll(t, s, keys...)
		stop := errors.New("stop")
		var batches [][]string
		err := pd.DeletePrefix(t.Context(), "stop:", 10, func(keys []string) error {
			batches = append(batches, slices.Clone(keys))
			return stop
		})
		if !errors.Is(err, stop) {
			t.Fatalf("DeletePrefix = %v, want fn's error", err)
		}
		if len(batches) != 1 {
			t.Fatalf("fn called %d times after returning an error", len(batches))
		}
		deleted := make(map[string]bool)
		for _, k := range batches[0] {
			deleted[k] = true
		}
		if len(deleted) == 0 || len(deleted) == len(keys) {
			t.Fatalf("the first batch holds %d keys of %d, want some", len(deleted), len(keys))
		}
		for _, k := range keys {
			if deleted[k] {
				wantGone(t, s, k)
			} else {
				wantPresent(t, s, k)
			}
		}
		deletePrefix(t, pd, "stop:", 10)
	})

	t.Run("EmptyPrefixSparesTags", func(t *testing.T) {
		tg, tagger := optional[l2.Tagger](t, s)
		if tagger {
			mustTag(t, tg, []string{"kept", ""}, []string{"x1", "x2"}, long)
		}
		setAll(t, s, "x1", "x2", "kept", "")
		// Every key of the store goes, those of the subtests above too.
		want := sorted("nomatch", "x1", "x2", "kept", "",
			"a*[b]", "a*[b]!x", "aZZb!", "ab?", "a*b?x", "a*[c]?x", "A*[b]?", "xa*[b]?",
			"b", "b1", `c\`, "p", "p;1", "P:1", "xp:1", "q:p:1")
		wantKeys(t, `DeletePrefix("")`, deletePrefix(t, pd, "", 7), want)
		wantGone(t, s, want...)
		if tagger {
			wantKeys(t, "popped kept", popAll(t, tg, "kept", 10), []string{"x1", "x2"})
			wantKeys(t, `popped ""`, popAll(t, tg, "", 10), []string{"x1", "x2"})
		}
		if keys := deletePrefix(t, pd, "", 7); len(keys) != 0 {
			t.Errorf("a second DeletePrefix(\"\") deleted %q, want none", keys)
		}
	})

	t.Run("Views", func(t *testing.T) {
		v1, v2 := views(t, s)
		p1, p2 := as[l2.PrefixDeleter](t, v1), as[l2.PrefixDeleter](t, v2)
		setAll(t, v1, "k1", "k2", "x:1")
		setAll(t, v2, "k1", "k2")
		setAll(t, s, "v1", "v1x", "v10:k1", "v:k1", "k1")
		// Tag indexes of the view and of a namespace inside it survive.
		sub := as[l2.Namespacer](t, s).Namespace("v1:sub")
		if tg, ok := optional[l2.Tagger](t, v1); ok {
			mustTag(t, tg, []string{"t"}, []string{"k1"}, long)
			mustTag(t, as[l2.Tagger](t, sub), []string{"t"}, []string{"m"}, long)
		}
		setAll(t, sub, "m")

		wantKeys(t, `v2.DeletePrefix("k1")`, deletePrefix(t, p2, "k1", 10), []string{"k1"})
		wantGone(t, v2, "k1")
		wantPresent(t, v2, "k2")
		wantPresent(t, v1, "k1")

		wantKeys(t, `v1.DeletePrefix("")`, deletePrefix(t, p1, "", 10), []string{"k1", "k2", "sub:m", "x:1"})
		wantGone(t, v1, "k1", "k2", "x:1")
		wantGone(t, sub, "m")
		wantPresent(t, v2, "k2")
		wantPresent(t, s, "v1", "v1x", "v10:k1", "v:k1", "k1")
		if tg, ok := optional[l2.Tagger](t, v1); ok {
			wantKeys(t, "popped v1's t", popAll(t, tg, "t", 10), []string{"k1"})
			wantKeys(t, "popped v1:sub's t", popAll(t, as[l2.Tagger](t, sub), "t", 10), []string{"m"})
		}
	})
}

// testOptionalArgs checks that a count that is not positive is an error.
func testOptionalArgs(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := t.Context()
	if tg, ok := optional[l2.Tagger](t, s); ok {
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := tg.Tag(ctx, []string{"t"}, []string{"k"}, ttl); err == nil {
				t.Errorf("Tag with TTL %v: no error", ttl)
			}
		}
		for _, n := range []int{0, -1} {
			if _, err := tg.PopTagged(ctx, "t", n); err == nil {
				t.Errorf("PopTagged with count %d: no error", n)
			}
		}
	}
	if pd, ok := optional[l2.PrefixDeleter](t, s); ok {
		for _, n := range []int{0, -1} {
			if err := pd.DeletePrefix(ctx, "", n, func([]string) error { return nil }); err == nil {
				t.Errorf("DeletePrefix with count %d: no error", n)
			}
		}
	}
}

// testOptionalCanceledContext requires an error from every optional
// operation given a canceled context.
func testOptionalCanceledContext(t *testing.T, h Harness) {
	s := h.New(t)
	mustSet(t, s, "k", []byte("v"), long)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if c, ok := optional[l2.Conditional](t, s); ok {
		if _, err := c.SetIf(ctx, cond("k2", nil, []byte("v"))); err == nil {
			t.Error("SetIf(old nil): no error")
		}
		if _, err := c.SetIf(ctx, cond("k", []byte("v"), []byte("w"))); err == nil {
			t.Error("SetIf(old v): no error")
		}
		items := []l2.CondItem{cond("k2", nil, []byte("v")), cond("k", []byte("v"), []byte("w"))}
		if _, err := c.SetManyIf(ctx, items); err == nil {
			t.Error("SetManyIf: no error")
		}
	}
	if tg, ok := optional[l2.Tagger](t, s); ok {
		if err := tg.Tag(ctx, []string{"t"}, []string{"k"}, long); err == nil {
			t.Error("Tag: no error")
		}
		if err := tg.Tag(ctx, []string{"t", "u"}, []string{"k"}, long); err == nil {
			t.Error("Tag of two tags: no error")
		}
		if _, err := tg.PopTagged(ctx, "t", 10); err == nil {
			t.Error("PopTagged: no error")
		}
	}
	if pd, ok := optional[l2.PrefixDeleter](t, s); ok {
		err := pd.DeletePrefix(ctx, "", 10, func(keys []string) error {
			t.Errorf("DeletePrefix reported %q", keys)
			return nil
		})
		if err == nil {
			t.Error("DeletePrefix: no error")
		}
	}
	wantValue(t, s, "k", []byte("v"))
}
