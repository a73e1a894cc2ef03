package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// redisServer is the Redis the replicas share: an embedded one
// (miniredis) unless -redis or -cluster names a real one.
type redisServer struct {
	mini    *miniredis.Miniredis // nil for a real Redis
	addrs   []string
	cluster bool
	// stopClock and clock end the embedded Redis's clock (see tick).
	stopClock chan struct{}
	clock     sync.WaitGroup
}

// startRedis starts the embedded Redis, or describes the real one of cfg.
func startRedis(cfg *config) (*redisServer, error) {
	switch {
	case len(cfg.Cluster) > 0:
		return &redisServer{addrs: cfg.Cluster, cluster: true}, nil
	case cfg.Redis != "":
		return &redisServer{addrs: []string{cfg.Redis}}, nil
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	s := &redisServer{mini: m, addrs: []string{m.Addr()}, stopClock: make(chan struct{})}
	s.clock.Go(s.tick)
	return s, nil
}

// tick moves the embedded Redis's clock with the wall clock, every 50 ms,
// until close. miniredis, made for tests, never expires a key by itself
// (its TTLs move only with FastForward): without this, values would never
// expire, and neither would a lease whose holder could not release it
// (during the outage), making the other replica wait for it until its
// LoadTimeout.
func (s *redisServer) tick() {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case now := <-t.C:
			s.mini.FastForward(now.Sub(last))
			last = now
		case <-s.stopClock:
			return
		}
	}
}

// String says which Redis this is, for the start-up line.
func (s *redisServer) String() string {
	switch {
	case s.mini != nil:
		return "embedded Redis (miniredis) at " + s.addrs[0]
	case s.cluster:
		return "Redis Cluster at " + strings.Join(s.addrs, ",")
	}
	return "Redis at " + s.addrs[0]
}

// client returns a new client of the server: each replica has its own, as
// each pod would (and so its own connection pool, which the cache's
// MaxL2Calls default matches).
func (s *redisServer) client() redis.UniversalClient {
	if s.cluster {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: s.addrs})
	}
	return redis.NewClient(&redis.Options{Addr: s.addrs[0]})
}

// canFail reports whether outage can make the server unavailable: only the
// embedded one.
func (s *redisServer) canFail() bool { return s.mini != nil }

// outage makes the embedded Redis unavailable for d (its listener and
// every connection closed, as when a server restarts), then starts it
// again on the same address with its data. It returns early, with the
// server back, when ctx ends.
func (s *redisServer) outage(ctx context.Context, d time.Duration) error {
	s.mini.Close()
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	if err := s.mini.Restart(); err != nil {
		return fmt.Errorf("embedded redis: restart on %s: %w", s.addrs[0], err)
	}
	return nil
}

// close stops the embedded Redis.
func (s *redisServer) close() {
	if s.mini != nil {
		close(s.stopClock)
		s.clock.Wait()
		s.mini.Close()
	}
}
