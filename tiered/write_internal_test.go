package tiered

import (
	"context"
	"strconv"
	"testing"

	"github.com/tiercache/tiercache/l2/memstore"
)

// TestApply_KeysSharingAGeneration: two keys of one SetMany whose
// generations share a slot both go into L1. Before, the second key's bump
// of the shared slot looked like another instance's message to the first
// (moved during the L2 write), and the first stayed out of L1: a
// read-your-write that missed L1 once in twenty runs of
// TestSetManyGetMany, with 50 keys.
func TestApply_KeysSharingAGeneration(t *testing.T) {
	c, err := New(&Options[string, int]{Name: "gens", L2: memstore.New(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	// Two keys in one slot of the cache's generation table.
	slot := map[uint64]string{}
	var a, b string
	for i := 0; b == ""; i++ {
		k := strconv.Itoa(i)
		s := c.gens.hash(k) % genSlots
		if other, ok := slot[s]; ok {
			a, b = other, k
		}
		slot[s] = k
	}
	if err := c.SetMany(context.Background(), map[string]int{a: 1, b: 2}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{a, b} {
		if _, ok := c.l1.Get(k); !ok {
			t.Errorf("key %q (sharing its generation with the other) is not in L1 after SetMany", k)
		}
	}
}
