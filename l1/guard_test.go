package l1

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/ristretto/v2"
)

// randGuard is the guard this package used first: counters picked at random
// per call. Kept as a baseline for BenchmarkGuard.
type randGuard struct {
	closed  atomic.Bool
	stripes [16]paddedCounter
}

func (g *randGuard) enter() (int, bool) {
	i := int(rand.Uint32() % 16)
	g.stripes[i].n.Add(1)
	if g.closed.Load() {
		g.stripes[i].n.Add(-1)
		return 0, false
	}
	return i, true
}
func (g *randGuard) leave(i int) { g.stripes[i].n.Add(-1) }

// BenchmarkGuard compares ways of guarding a parallel ristretto Get against
// a concurrent Close (2 cores, ns/op): none 76, the per-P pool guard 71,
// random stripes 136, sync.RWMutex 118.
func BenchmarkGuard(b *testing.B) {
	c, _ := ristretto.NewCache(&ristretto.Config[string, any]{NumCounters: 1e5, MaxCost: 1 << 20, BufferItems: 64, IgnoreInternalCost: true})
	defer c.Close()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		c.Set(keys[i], i, 1)
	}
	c.Wait()
	var pg guard
	var rg randGuard
	var mu sync.RWMutex
	b.Run("none", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				c.Get(keys[i%1024])
			}
		})
	})
	b.Run("pool", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				g := pg.enter()
				c.Get(keys[i%1024])
				pg.leave(g)
			}
		})
	})
	b.Run("rand", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				s, _ := rg.enter()
				c.Get(keys[i%1024])
				rg.leave(s)
			}
		})
	})
	b.Run("rwmutex", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				mu.RLock()
				c.Get(keys[i%1024])
				mu.RUnlock()
			}
		})
	})
}

func TestGuardClose(t *testing.T) {
	var g guard
	held := g.enter()
	if held == nil {
		t.Fatal("enter on an open guard failed")
	}
	closed := make(chan bool)
	go func() { closed <- g.close() }()
	select {
	case <-closed:
		t.Fatal("close returned while a caller was inside")
	default:
	}
	// Wait until close has marked the guard: new callers are refused.
	for !g.closed.Load() {
		runtime.Gosched()
	}
	if g.enter() != nil {
		t.Fatal("enter after close succeeded")
	}
	g.leave(held)
	if !<-closed {
		t.Fatal("first close reported false")
	}
	if g.close() {
		t.Fatal("second close reported true")
	}
}
