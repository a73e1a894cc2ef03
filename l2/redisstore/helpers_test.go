package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// miniHarness runs the conformance suite on fresh miniredis servers, made
// by newClient for each store, with FastForward as the clock.
func miniHarness(newClient func(t *testing.T, servers []*miniredis.Miniredis) redis.UniversalClient, nservers int) l2test.Harness {
	var mu sync.Mutex
	servers := make(map[*testing.T][]*miniredis.Miniredis)
	return l2test.Harness{
		New: func(t *testing.T) l2.Store {
			ms := make([]*miniredis.Miniredis, nservers)
			for i := range ms {
				ms[i] = miniredis.RunT(t)
			}
			mu.Lock()
			servers[t] = ms
			mu.Unlock()
			t.Cleanup(func() {
				mu.Lock()
				delete(servers, t)
				mu.Unlock()
			})
			return redisstore.New(newClient(t, ms), nil)
		},
		Advance: func(t *testing.T, d time.Duration) {
			mu.Lock()
			ms := servers[t]
			mu.Unlock()
			if ms == nil {
				t.Fatal("Advance for a test that made no store")
			}
			for _, m := range ms {
				m.FastForward(d)
			}
		},
	}
}

func newMiniClient(t *testing.T, ms []*miniredis.Miniredis) redis.UniversalClient {
	return closeLater(t, redis.NewClient(&redis.Options{Addr: ms[0].Addr()}))
}

func newMiniClusterClient(t *testing.T, ms []*miniredis.Miniredis) redis.UniversalClient {
	return closeLater(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{ms[0].Addr()}}))
}

func newMiniRing(t *testing.T, ms []*miniredis.Miniredis) redis.UniversalClient {
	addrs := make(map[string]string, len(ms))
	for i, m := range ms {
		addrs[fmt.Sprintf("shard%d", i)] = m.Addr()
	}
	return closeLater(t, redis.NewRing(&redis.RingOptions{Addrs: addrs}))
}

func closeLater[C redis.UniversalClient](t *testing.T, c C) C {
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing the client: %v", err)
		}
	})
	return c
}

// sharedHarness runs the conformance suite on one real server (or cluster)
// behind client: each store gets a key prefix of its own, and time is the
// real clock.
func sharedHarness(client redis.UniversalClient) l2test.Harness {
	var n atomic.Int64
	return l2test.Harness{
		New: func(t *testing.T) l2.Store {
			return redisstore.New(client, &redisstore.Options{Prefix: fmt.Sprintf("t%d:", n.Add(1))})
		},
	}
}

// counter is a redis.Hook that counts the commands a client sends, alone or
// in pipelines, except those that set up a new connection.
type counter struct {
	mu        sync.Mutex
	single    []string   // names of commands sent alone
	pipelines [][]string // names of the commands of each pipeline
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if connSetup(cmd) {
			return next(ctx, cmd)
		}
		c.mu.Lock()
		c.single = append(c.single, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var names []string
		for _, cmd := range cmds {
			if !connSetup(cmd) {
				names = append(names, cmd.Name())
			}
		}
		if names == nil {
			return next(ctx, cmds)
		}
		c.mu.Lock()
		c.pipelines = append(c.pipelines, names)
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

// connSetup reports whether go-redis sent cmd to set up a new connection.
func connSetup(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select", "ping":
		return true
	}
	return false
}

// take returns what was counted since the last call and resets.
func (c *counter) take() (single []string, pipelines [][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	single, pipelines = c.single, c.pipelines
	c.single, c.pipelines = nil, nil
	return single, pipelines
}

// count returns how many times name occurs in names.
func count(names []string, name string) int {
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}

// distinct returns the distinct strings of ss, sorted.
func distinct(ss []string) []string {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	return slices.Compact(ss)
}
