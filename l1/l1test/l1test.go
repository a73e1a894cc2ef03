// Package l1test is the conformance suite that every [l1.Store] passes.
//
//	func TestConformance(t *testing.T) {
//		l1test.Run(t, func(t *testing.T) l1.Store {
//			s, err := l1.NewRistretto(l1.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(s.Close)
//			return s
//		})
//	}
package l1test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l1"
)

// Run runs the suite against stores made by newStore; each call must return
// a fresh, empty store with room for at least 1 MiB of cost.
func Run(t *testing.T, newStore func(t *testing.T) l1.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s l1.Store)
	}{
		{"GetMissing", testGetMissing},
		{"ReadYourWritesAfterWait", testReadYourWrites},
		{"ReplaceIsImmediate", testReplace},
		{"Delete", testDelete},
		{"DeleteAfterBufferedSet", testDeleteAfterBufferedSet},
		{"TTL", testTTL},
		{"Clear", testClear},
		{"SameValueToEveryCaller", testSameValue},
		{"Concurrent", testConcurrent},
		{"CloseIsIdempotent", testClose},
		{"SynchronousSetIsVisibleAtOnce", testSynchronous},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func set(t *testing.T, s l1.Store, key string, v any, ttl time.Duration) {
	t.Helper()
	if !s.Set(key, v, 10, ttl) {
		t.Fatalf("Set(%q) refused", key)
	}
	s.Wait()
}

func testGetMissing(t *testing.T, s l1.Store) {
	if v, ok := s.Get("nope"); ok || v != nil {
		t.Fatalf("Get(missing) = %v, %v", v, ok)
	}
}

func testReadYourWrites(t *testing.T, s l1.Store) {
	for i := range 200 {
		k := fmt.Sprintf("k%d", i)
		set(t, s, k, i, 0)
		if v, ok := s.Get(k); !ok || v != i {
			t.Fatalf("Get(%q) right after Set+Wait = %v, %v; want %d", k, v, ok, i)
		}
	}
}

func testReplace(t *testing.T, s l1.Store) {
	set(t, s, "k", "old", 0)
	s.Set("k", "new", 10, 0) // no Wait: replacing a stored key is immediate
	if v, ok := s.Get("k"); !ok || v != "new" {
		t.Fatalf("Get after replace = %v, %v", v, ok)
	}
}

func testDelete(t *testing.T, s l1.Store) {
	set(t, s, "k", 1, 0)
	s.Delete("k")
	if _, ok := s.Get("k"); ok {
		t.Fatal("Get after Delete hit")
	}
	s.Delete("never-set") // no panic
}

func testDeleteAfterBufferedSet(t *testing.T, s l1.Store) {
	s.Set("k", 1, 10, 0) // possibly still buffered
	s.Delete("k")
	s.Wait()
	if _, ok := s.Get("k"); ok {
		t.Fatal("a Set followed by a Delete must not resurface")
	}
}

func testTTL(t *testing.T, s l1.Store) {
	set(t, s, "short", 1, 20*time.Millisecond)
	set(t, s, "long", 2, time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := s.Get("short"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("entry with a 20ms TTL still served after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v, ok := s.Get("long"); !ok || v != 2 {
		t.Fatalf("long-lived entry = %v, %v", v, ok)
	}
}

func testClear(t *testing.T, s l1.Store) {
	for i := range 10 {
		set(t, s, fmt.Sprint(i), i, 0)
	}
	s.Clear()
	for i := range 10 {
		if _, ok := s.Get(fmt.Sprint(i)); ok {
			t.Fatalf("key %d survived Clear", i)
		}
	}
	set(t, s, "after", 1, 0)
	if _, ok := s.Get("after"); !ok {
		t.Fatal("store unusable after Clear")
	}
}

func testSameValue(t *testing.T, s l1.Store) {
	p := &struct{ n int }{1}
	set(t, s, "p", p, 0)
	a, _ := s.Get("p")
	b, _ := s.Get("p")
	if a != any(p) || b != any(p) {
		t.Fatal("Get must return the stored value itself")
	}
}

func testConcurrent(t *testing.T, s l1.Store) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := fmt.Sprintf("k%d", (g*31+i)%64)
				switch i % 4 {
				case 0:
					s.Set(k, i, 10, time.Minute)
				case 1:
					s.Delete(k)
				default:
					if v, ok := s.Get(k); ok {
						if _, isInt := v.(int); !isInt {
							t.Errorf("Get(%q) = %T", k, v)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

func testClose(t *testing.T, s l1.Store) {
	set(t, s, "k", 1, 0)
	s.Close()
	s.Close()
	if _, ok := s.Get("k"); ok {
		t.Fatal("Get after Close hit")
	}
	if s.Set("k", 2, 10, 0) {
		t.Fatal("Set after Close accepted")
	}
	s.Wait()
	s.Delete("k")
	s.Clear()
}

// testSynchronous checks, for a store that says it is l1.Synchronous, that
// every Set is visible to the next Get without Wait, new keys and replaced
// ones alike (a store that is not skips it).
func testSynchronous(t *testing.T, s l1.Store) {
	if sy, ok := s.(l1.Synchronous); !ok || !sy.Synchronous() {
		t.Skip("not a synchronous store")
	}
	for round := range 2 {
		for i := range 1000 {
			k := fmt.Sprint(i)
			if !s.Set(k, round*1000+i, 10, time.Hour) {
				t.Fatalf("Set %s refused", k)
			}
			if v, ok := s.Get(k); !ok || v != round*1000+i {
				t.Fatalf("round %d: Get(%s) right after Set = %v, %v", round, k, v, ok)
			}
		}
	}
}
