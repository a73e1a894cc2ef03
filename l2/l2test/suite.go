package l2test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

func testGetMiss(t *testing.T, h Harness) {
	s := h.New(t)
	got, err := s.Get(t.Context(), "absent")
	if !errors.Is(err, l2.ErrMiss) {
		t.Fatalf("Get(absent) = %q, %v; want l2.ErrMiss", got, err)
	}
	if got != nil {
		t.Errorf("Get(absent) returned a value %q with ErrMiss", got)
	}
}

func testSetGet(t *testing.T, h Harness) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 32<<10) // 512 KiB
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"Plain", "user:42", []byte(`{"name":"Ada"}`)},
		{"EmptyValue", "empty", []byte{}},
		{"NilValue", "nil", nil},
		{"BinaryValue", "binary", []byte{0x00, 0xff, '\r', '\n', '{', '}', 0x00}},
		{"BinaryKey", "k\x00\xff\r\n", []byte("v")},
		{"BracesInKey", "{user}:{42}", []byte("v")},
		{"UnicodeKey", "ключ:é", []byte("v")},
		{"LongKey", strings.Repeat("k", 4096), []byte("v")},
		{"LargeValue", "large", big},
	}
	s := h.New(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustSet(t, s, tc.key, tc.value, long)
			want := tc.value
			if want == nil {
				want = []byte{} // a nil value is stored as an empty one
			}
			got, err := s.Get(t.Context(), tc.key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Get = %q (len %d), want len %d", trunc(got), len(got), len(want))
			}
			vals := mustGetMany(t, s, []string{tc.key})
			if vals[0] == nil {
				t.Fatalf("GetMany slot is nil (a miss), want a hit of len %d", len(want))
			}
			if !bytes.Equal(vals[0], want) {
				t.Errorf("GetMany = %q (len %d), want len %d", trunc(vals[0]), len(vals[0]), len(want))
			}
		})
	}
}

func testOverwrite(t *testing.T, h Harness) {
	s := h.New(t)
	mustSet(t, s, "k", []byte("first, longer value"), long)
	mustSet(t, s, "k", []byte("second"), long)
	wantValue(t, s, "k", []byte("second"))
	mustSetMany(t, s, []l2.Item{{Key: "k", Value: []byte("third"), TTL: long}})
	wantValue(t, s, "k", []byte("third"))
	mustSet(t, s, "k", []byte{}, long)
	wantValue(t, s, "k", []byte{})
}

func testCopies(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := t.Context()

	buf := []byte("original")
	mustSet(t, s, "k", buf, long)
	copy(buf, "XXXXXXXX") // the caller reuses its buffer after Set
	wantValue(t, s, "k", []byte("original"))

	items := []l2.Item{{Key: "m", Value: []byte("many"), TTL: long}}
	mustSetMany(t, s, items)
	copy(items[0].Value, "XXXX")
	wantValue(t, s, "m", []byte("many"))

	got, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	copy(got, "YYYYYYYY") // the returned slice belongs to the caller
	wantValue(t, s, "k", []byte("original"))

	vals := mustGetMany(t, s, []string{"k", "k", "m"})
	copy(vals[0], "ZZZZZZZZ")
	if !bytes.Equal(vals[1], []byte("original")) {
		t.Errorf("GetMany duplicate slot changed with its twin: %q", vals[1])
	}
	copy(vals[2], "ZZZZ")
	wantValue(t, s, "k", []byte("original"))
	wantValue(t, s, "m", []byte("many"))
}

func testTTL(t *testing.T, h Harness) {
	s := h.New(t)
	v := []byte("v")
	short := shortTTL(h)

	start := time.Now()
	// "renewed" is written with the short TTL before "short", so once "short"
	// is gone the first TTL of "renewed" has run out too.
	mustSet(t, s, "renewed", v, short)
	mustSet(t, s, "short", v, short)
	mustSet(t, s, "renewed", []byte("again"), long)
	mustSet(t, s, "long", v, long)
	mustSetMany(t, s, []l2.Item{
		{Key: "many-short", Value: v, TTL: short},
		{Key: "many-long", Value: v, TTL: long},
	})

	if h.Advance != nil {
		h.Advance(t, short-100*time.Millisecond)
		for _, k := range []string{"short", "many-short"} {
			wantValue(t, s, k, v)
		}
		h.Advance(t, 200*time.Millisecond)
	} else {
		// A hit proves nothing on a slow machine, but a miss that returns
		// before the TTL ran out is a bug.
		for _, k := range []string{"short", "many-short"} {
			_, err := s.Get(t.Context(), k)
			if errors.Is(err, l2.ErrMiss) && time.Since(start) < short {
				t.Errorf("Get(%q) missed before its TTL of %v", k, short)
			}
		}
		waitMiss(t, s, "short")
		waitMiss(t, s, "many-short")
	}

	wantMiss(t, s, "short")
	wantMiss(t, s, "many-short")
	wantValue(t, s, "renewed", []byte("again"))
	wantValue(t, s, "long", v)
	wantValue(t, s, "many-long", v)
	keys := []string{"short", "long", "many-short", "many-long"}
	wantSlots(t, keys, mustGetMany(t, s, keys), [][]byte{nil, v, nil, v})
}

func testTTLNotPositive(t *testing.T, h Harness) {
	s := h.New(t)
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := s.Set(t.Context(), "k", []byte("v"), ttl); err == nil {
			t.Errorf("Set with TTL %v: no error", ttl)
		}
		wantMiss(t, s, "k")
		items := []l2.Item{{Key: "k", Value: []byte("v"), TTL: ttl}}
		if err := s.SetMany(t.Context(), items); err == nil {
			t.Errorf("SetMany with TTL %v: no error", ttl)
		}
	}
}

func testGetMany(t *testing.T, h Harness) {
	s := h.New(t)
	mustSet(t, s, "a", []byte("A"), long)
	mustSet(t, s, "b", []byte("B"), long)
	mustSet(t, s, "e", []byte{}, long)

	t.Run("Empty", func(t *testing.T) {
		for _, keys := range [][]string{nil, {}} {
			vals, err := s.GetMany(t.Context(), keys)
			if err != nil || len(vals) != 0 {
				t.Errorf("GetMany(%#v) = %q, %v; want no values, no error", keys, vals, err)
			}
		}
	})
	t.Run("HitsMissesDuplicates", func(t *testing.T) {
		keys := []string{"x", "a", "b", "a", "y", "e", "b", "x"}
		want := [][]byte{nil, []byte("A"), []byte("B"), []byte("A"), nil, {}, []byte("B"), nil}
		wantSlots(t, keys, mustGetMany(t, s, keys), want)
	})
	t.Run("AllMiss", func(t *testing.T) {
		keys := []string{"x", "y", "z"}
		wantSlots(t, keys, mustGetMany(t, s, keys), [][]byte{nil, nil, nil})
	})
	t.Run("250Keys", func(t *testing.T) {
		const n = 250
		var items []l2.Item
		keys := make([]string, n)
		want := make([][]byte, n)
		for i := range n {
			// Reverse order, so that no store can pass by sorting.
			k := fmt.Sprintf("many:%d", n-i)
			keys[i] = k
			if i%3 != 0 {
				v := []byte("value of " + k)
				items = append(items, l2.Item{Key: k, Value: v, TTL: long})
				want[i] = v
			}
		}
		mustSetMany(t, s, items)
		wantSlots(t, keys, mustGetMany(t, s, keys), want)
	})
}

func testSetMany(t *testing.T, h Harness) {
	s := h.New(t)
	if err := s.SetMany(t.Context(), nil); err != nil {
		t.Errorf("SetMany(nil): %v", err)
	}
	items := []l2.Item{
		{Key: "a", Value: []byte("A"), TTL: long},
		{Key: "b", Value: []byte{}, TTL: long},
		{Key: "c", Value: []byte{0x00, '{', '}'}, TTL: 90 * time.Minute},
	}
	mustSetMany(t, s, items)
	keys := []string{"c", "a", "missing", "b"}
	want := [][]byte{items[2].Value, items[0].Value, nil, items[1].Value}
	wantSlots(t, keys, mustGetMany(t, s, keys), want)
	for _, it := range items {
		wantValue(t, s, it.Key, it.Value)
	}
}

func testDelete(t *testing.T, h Harness) {
	s := h.New(t)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		mustSet(t, s, k, []byte(k), long)
	}

	mustDelete(t, s) // no keys: a no-op
	mustDelete(t, s, "a")
	wantMiss(t, s, "a")
	wantValue(t, s, "b", []byte("b"))

	mustDelete(t, s, "a")       // absent
	mustDelete(t, s, "missing") // never written
	mustDelete(t, s, "b", "missing", "c", "b")
	keys := []string{"a", "b", "c", "d", "e"}
	wantSlots(t, keys, mustGetMany(t, s, keys), [][]byte{nil, nil, nil, []byte("d"), []byte("e")})

	mustSet(t, s, "a", []byte("again"), long)
	wantValue(t, s, "a", []byte("again"))
}

// testCanceledContext requires an error from every operation that has work
// to do. A network store may notice the canceled context before sending or
// only after, so the error need not wrap context.Canceled; it must not be
// mistaken for a miss.
func testCanceledContext(t *testing.T, h Harness) {
	s := h.New(t)
	mustSet(t, s, "k", []byte("v"), long)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	if v, err := s.Get(ctx, "k"); err == nil || errors.Is(err, l2.ErrMiss) {
		t.Errorf("Get = %q, %v; want an error that is not ErrMiss", v, err)
	}
	if v, err := s.GetMany(ctx, []string{"k", "other"}); err == nil {
		t.Errorf("GetMany = %q, nil; want an error", v)
	}
	if err := s.Set(ctx, "k2", []byte("v"), long); err == nil {
		t.Error("Set: no error")
	}
	if err := s.SetMany(ctx, []l2.Item{{Key: "k3", Value: []byte("v"), TTL: long}}); err == nil {
		t.Error("SetMany: no error")
	}
	if err := s.Delete(ctx, "k"); err == nil {
		t.Error("Delete: no error")
	}
}

// testKeyFraming writes keys that a store would confuse if it framed keys
// naively (a prefix, a hash tag, a separator) and checks they stay distinct.
func testKeyFraming(t *testing.T, h Harness) {
	s := h.New(t)
	keys := []string{
		"a", "b", "a:b", "a}b", "{a}", "{a", "a}", "}", "{", "{}", "}{", "",
		"tc:a", "{tc:a}", "{tc:a}b}", "a}:lease", ":lease", "a\x00b", "a b", "A",
	}
	want := make([][]byte, len(keys))
	for i, k := range keys {
		want[i] = fmt.Appendf(nil, "value %d", i)
		mustSet(t, s, k, want[i], long)
	}
	for i, k := range keys {
		wantValue(t, s, k, want[i])
	}
	wantSlots(t, keys, mustGetMany(t, s, keys), want)

	mustDelete(t, s, "a", "{a}")
	want[0], want[4] = nil, nil
	wantSlots(t, keys, mustGetMany(t, s, keys), want)
}

// testConcurrent runs Set, Get, GetMany, SetMany and Delete from 16
// goroutines on a few shared keys. Every value names its key, so a reader
// can tell a torn or misplaced value from a stale one. Run with -race.
func testConcurrent(t *testing.T, h Harness) {
	s := h.New(t)
	const (
		goroutines = 16
		ops        = 100
	)
	keys := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"}
	check := func(key string, v []byte) error {
		if !bytes.HasPrefix(v, []byte(key+"=")) {
			return fmt.Errorf("key %q holds %q", key, v)
		}
		return nil
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ctx := t.Context()
			for i := range ops {
				k := keys[(g+i)%len(keys)]
				var err error
				switch i % 5 {
				case 0, 1:
					err = s.Set(ctx, k, fmt.Appendf(nil, "%s=%d/%d", k, g, i), long)
				case 2:
					var v []byte
					if v, err = s.Get(ctx, k); err == nil {
						err = check(k, v)
					} else if errors.Is(err, l2.ErrMiss) {
						err = nil
					}
				case 3:
					var vals [][]byte
					vals, err = s.GetMany(ctx, keys)
					for j, v := range vals {
						if v != nil && err == nil {
							err = check(keys[j], v)
						}
					}
				case 4:
					if g%2 == 0 {
						err = s.Delete(ctx, k)
					} else {
						err = s.SetMany(ctx, []l2.Item{{Key: k, Value: []byte(k + "=many"), TTL: long}})
					}
				}
				if err != nil {
					t.Errorf("goroutine %d, op %d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// trunc shortens a value for a failure message.
func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
