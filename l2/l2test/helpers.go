package l2test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// long is the TTL of values that must outlive every subtest.
const long = time.Hour

// shortTTL returns the TTL of the values and leases that the TTL tests let
// expire: a fraction of a second on the real clock, where they poll until
// it ran out, and with h.Advance a TTL that is not a whole number of
// seconds, so that a store that rounds TTLs to seconds fails.
func shortTTL(h Harness) time.Duration {
	if h.Advance == nil {
		return 150 * time.Millisecond
	}
	return 1500 * time.Millisecond
}

func mustSet(t *testing.T, s l2.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(t.Context(), key, value, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustSetMany(t *testing.T, s l2.Store, items []l2.Item) {
	t.Helper()
	if err := s.SetMany(t.Context(), items); err != nil {
		t.Fatalf("SetMany(%d items): %v", len(items), err)
	}
}

func mustDelete(t *testing.T, s l2.Store, keys ...string) {
	t.Helper()
	if err := s.Delete(t.Context(), keys...); err != nil {
		t.Fatalf("Delete(%q): %v", keys, err)
	}
}

func mustGetMany(t *testing.T, s l2.Store, keys []string) [][]byte {
	t.Helper()
	vals, err := s.GetMany(t.Context(), keys)
	if err != nil {
		t.Fatalf("GetMany(%d keys): %v", len(keys), err)
	}
	if len(vals) != len(keys) {
		t.Fatalf("GetMany(%d keys) returned %d values", len(keys), len(vals))
	}
	return vals
}

// wantValue checks that Get(key) returns want.
func wantValue(t *testing.T, s l2.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Errorf("Get(%q): %v, want %q", key, err, want)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Get(%q) = %q, want %q", key, got, want)
	}
}

// wantMiss checks that Get(key) returns l2.ErrMiss.
func wantMiss(t *testing.T, s l2.Store, key string) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if !errors.Is(err, l2.ErrMiss) {
		t.Errorf("Get(%q) = %q, %v; want l2.ErrMiss", key, got, err)
	}
}

// wantSlots checks GetMany's result against want, where a nil want slot is a
// miss and a non-nil one (possibly empty) a hit.
func wantSlots(t *testing.T, keys []string, got, want [][]byte) {
	t.Helper()
	for i := range want {
		switch {
		case want[i] == nil && got[i] != nil:
			t.Errorf("GetMany slot %d (%q) = %q, want a miss (nil)", i, keys[i], got[i])
		case want[i] != nil && got[i] == nil:
			t.Errorf("GetMany slot %d (%q) is a miss, want %q", i, keys[i], want[i])
		case !bytes.Equal(got[i], want[i]):
			t.Errorf("GetMany slot %d (%q) = %q, want %q", i, keys[i], got[i], want[i])
		}
	}
}

// waitMiss polls Get(key) until it reports l2.ErrMiss, for stores on the real
// clock. It fails the test after a deadline far beyond any TTL the suite
// waits for.
func waitMiss(t *testing.T, s l2.Store, key string) {
	t.Helper()
	pollUntil(t, fmt.Sprintf("Get(%q) still hits", key), func() bool {
		_, err := s.Get(t.Context(), key)
		if err != nil && !errors.Is(err, l2.ErrMiss) {
			t.Fatalf("Get(%q): %v", key, err)
		}
		return err != nil
	})
}

// pollDeadline bounds pollUntil: far beyond any TTL the suite waits for.
const pollDeadline = 10 * time.Second

// pollUntil calls done every 10 ms until it reports true, for stores on the
// real clock, and fails t with what (and the deadline) after pollDeadline.
func pollUntil(t *testing.T, what string, done func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.NewTimer(pollDeadline)
	defer timeout.Stop()
	for !done() {
		select {
		case <-tick.C:
		case <-timeout.C:
			t.Fatalf("%s %v after its TTL", what, pollDeadline)
		}
	}
}
