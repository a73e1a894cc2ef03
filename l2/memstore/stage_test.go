package memstore_test

import (
	"math"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// The number of an unstaged value is remembered for l2.StageMemory on the
// store's clock, and forgotten after.
func TestStageMemory(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newStore(t, clock)
	ctx := t.Context()
	token := l2.NewToken()
	stage := func(seq uint64) uint64 {
		t.Helper()
		n, err := s.Stage(ctx, []l2.StageItem{{Key: "k", Value: []byte("v"), Seq: seq}})
		if err != nil || len(n) != 1 {
			t.Fatalf("Stage(seq %d) = %v, %v", seq, n, err)
		}
		return n[0]
	}
	if n := stage(5); n != 5 {
		t.Fatalf("Stage(5) = %d", n)
	}
	if err := s.Unstage(ctx, token, []l2.UnstageItem{{Key: "k", Seq: 5, TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(l2.StageMemory - time.Nanosecond)
	if n := stage(4); n != 0 {
		t.Errorf("Stage(4) just before StageMemory ran out = %d, want 0", n)
	}
	clock.Advance(time.Nanosecond)
	if res, err := s.Claim(ctx, token, time.Minute, []string{"k"}); err != nil || res[0].Seq != 0 || res[0].Value != nil {
		t.Errorf("Claim after StageMemory = %+v, %v; want nothing", res, err)
	}
	if n := stage(4); n != 4 {
		t.Errorf("Stage(4) after StageMemory = %d, want 4", n)
	}
}

// A Seq of 0 after the largest number is refused: there is no next one.
func TestStageLargestSeq(t *testing.T) {
	t.Parallel()
	s := newStore(t, newFakeClock())
	n, err := s.Stage(t.Context(), []l2.StageItem{
		{Key: "k", Value: []byte("a"), Seq: math.MaxUint64},
		{Key: "k", Value: []byte("b")},
	})
	if err != nil || len(n) != 2 || n[0] != math.MaxUint64 || n[1] != 0 {
		t.Errorf("Stage(max, then 0) = %v, %v; want [max 0]", n, err)
	}
	if v, err := s.Get(t.Context(), "k"); err != nil || string(v) != "a" {
		t.Errorf("Get = %q, %v; want a", v, err)
	}
}

// Len counts values, not queued values.
func TestStageLen(t *testing.T) {
	t.Parallel()
	s := newStore(t, newFakeClock())
	if _, err := s.Stage(t.Context(), []l2.StageItem{{Key: "k", Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 0 {
		t.Errorf("Len = %d with a queued value and no value, want 0", n)
	}
}
