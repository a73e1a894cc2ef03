package bench

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestPeers checks that each library's Peer does what the scenarios take
// for granted, on a real redis-server: a cold Get loads the source's
// value once, the next Get returns it without loading, a Set reaches
// Redis (another instance without a local copy reads it), and GetMany
// returns what Redis holds.
func TestPeers(t *testing.T) {
	addr := redisAddr(t)
	ctx := context.Background()
	for _, lib := range Libraries() {
		t.Run(lib.Name, func(t *testing.T) {
			src := newSource(0)
			cfg := Config{Addr: addr, Loader: src.Load, CountLocalHits: true}
			p := newPeer(t, lib, cfg)
			key := Key(7)
			for i := range 3 {
				v, err := p.Get(ctx, key)
				if err != nil {
					t.Fatalf("Get %d: %v", i, err)
				}
				if !reflect.DeepEqual(v, NewValue(7, 1)) {
					t.Fatalf("Get %d = %+v", i, v)
				}
			}
			// ristretto applies Sets asynchronously (a Get right after
			// may miss), and the client-side caches of rueidis and go-redis
			// keep the nil reply of the first GET until the invalidation
			// of their own SET comes back: these may load again. The
			// others must not.
			switch n := src.loads.Load(); {
			case lib.Name == "ristretto" || lib.Name == "rueidis" || lib.Name == "go-redis-csc":
				t.Logf("3 Gets made %d loads", n)
			case n != 1:
				t.Errorf("3 Gets made %d loads, want 1", n)
			}
			if lib.Local {
				// Local tiers fill asynchronously (ristretto's buffers,
				// tiercache's flush at its first subscription): read until
				// one serves, with a deadline.
				deadline := time.Now().Add(5 * time.Second)
				for p.LocalHits() < 1 && time.Now().Before(deadline) {
					waitLocal(p)
					if _, err := p.Get(ctx, key); err != nil {
						t.Fatal(err)
					}
				}
				if p.LocalHits() < 1 {
					t.Errorf("LocalHits = %d after 5 s of Gets of one key, want >= 1", p.LocalHits())
				}
			}
			if !lib.Remote {
				return
			}
			w := src.write(7)
			if err := p.Set(ctx, key, w); err != nil {
				t.Fatalf("Set: %v", err)
			}
			other := newPeer(t, lib, Config{Addr: addr, Loader: src.Load})
			if v, err := other.Get(ctx, key); err != nil || v.Version != 2 {
				t.Errorf("another instance read version %d (%v) after Set, want 2", v.Version, err)
			}
			// GetMany on the other instance: a client-side cache may still
			// hold the nil reply of p's first GET of key 8 when it is read
			// in one batch right after p's SET.
			if m, ok := other.(ManyGetter); ok {
				if _, err := p.Get(ctx, Key(8)); err != nil {
					t.Fatal(err)
				}
				got, err := m.GetMany(ctx, []string{Key(7), Key(8)})
				if err != nil {
					t.Fatalf("GetMany: %v", err)
				}
				if len(got) != 2 || got[Key(8)].ID != 8 {
					t.Errorf("GetMany = %+v", got)
				}
			}
		})
	}
}

// TestPeers_LocalOff checks that with Config.LocalOff the libraries that
// accept it never serve from a local tier.
func TestPeers_LocalOff(t *testing.T) {
	addr := redisAddr(t)
	ctx := context.Background()
	for _, lib := range Libraries() {
		t.Run(lib.Name, func(t *testing.T) {
			src := newSource(0)
			p := newPeer(t, lib, Config{Addr: addr, Loader: src.Load, LocalOff: true, CountLocalHits: true})
			if p == nil {
				t.Skip("no way to turn the local tier off")
			}
			for range 3 {
				if _, err := p.Get(ctx, Key(9)); err != nil {
					t.Fatal(err)
				}
			}
			if h := p.LocalHits(); h > 0 {
				t.Errorf("LocalHits = %d with the local tier off", h)
			}
		})
	}
}

// waitLocal lets asynchronous local stores (ristretto's Set buffer)
// apply what they were given.
func waitLocal(p Peer) {
	if w, ok := p.(interface{ Wait() }); ok {
		w.Wait()
	}
}
