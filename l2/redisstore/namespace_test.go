package redisstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// A namespace view is a Store of its own: it passes the suite.
func TestNamespaceConformance(t *testing.T) {
	h := miniHarness(newMiniClient, 1)
	newStore := h.New
	h.New = func(t *testing.T) l2.Store {
		return newStore(t).(l2.Namespacer).Namespace("ns")
	}
	l2test.Run(t, h)
}

func TestNamespaceKeys(t *testing.T) {
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	s := redisstore.New(client, nil)
	view := s.Namespace("user")
	if err := view.Set(t.Context(), "42", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	// The same key as the plain store's "user:42".
	if got, err := m.Get("{tc:user:42}"); err != nil || got != "v" {
		t.Fatalf("stored under {tc:user:42}: %q, %v", got, err)
	}
	if b, err := s.Get(t.Context(), "user:42"); err != nil || string(b) != "v" {
		t.Fatalf("plain store reads %q, %v", b, err)
	}
	long := strings.Repeat("k", 40) // past the compiler's 32-byte stack buffer
	if n := testing.AllocsPerRun(100, func() { _ = view.(*redisstore.Store).Key(long) }); n != 1 {
		t.Fatalf("Key of a view allocates %v times, want 1", n)
	}
	for _, bad := range []string{"a{b", "a}b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Namespace(%q) did not panic", bad)
				}
			}()
			s.Namespace(bad)
		}()
	}
}
