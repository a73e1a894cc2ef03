package redisbus_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
)

// On a real server: a killed pub/sub connection, and a server that stops
// and starts again, each cost one resubscription report, and messages flow
// again afterwards.
func TestIntegration_StandaloneResubscribe(t *testing.T) {
	srv := redistest.NewServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr()))
	t.Cleanup(func() { _ = admin.Close() })
	pub := newBus(t, client, nil)
	sub := newBus(t, client, &redisbus.Options{HealthCheck: 200 * time.Millisecond, RetryBackoff: 100 * time.Millisecond})
	r := newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	publish(t, pub, "user", "before")
	r.wait(t, "the first key", r.hasKeys("before"))

	ctx := context.Background()
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "the resubscription after CLIENT KILL", func(r *recorder) bool { return r.count(invalidate.Resubscribed) == 1 })
	publish(t, pub, "user", "after-kill")
	r.wait(t, "a key after the kill", r.hasKeys("after-kill"))

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "the resubscription after the restart", func(r *recorder) bool { return r.count(invalidate.Resubscribed) == 2 })
	waitFor(t, "the publisher to reach the server", func() bool {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return pub.Publish(ctx, &invalidate.Message{Namespace: "user", Keys: []string{"after-restart"}}) == nil
	})
	r.wait(t, "a key after the restart", r.hasKeys("after-restart"))
	// Each break is reported at its first sign (Interrupted), and its end
	// (Resubscribed): the cache keeps L1 off in between.
	want := []invalidate.LostReason{invalidate.Subscribed,
		invalidate.Interrupted, invalidate.Resubscribed, invalidate.Interrupted, invalidate.Resubscribed}
	if got := r.lostSequence(); !slices.Equal(got, want) {
		t.Errorf("Lost calls %v, want %v", got, want)
	}
}

// On Cluster the bus uses sharded pub/sub; a failover of the master that
// holds the channel ends the subscription (go-redis does not renew it): the
// bus reports it and subscribes again on the new master.
func TestIntegration_ClusterShardedFailover(t *testing.T) {
	cl := redistest.NewCluster(t)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()
	pub := newBus(t, client, nil)
	sub := newBus(t, client, &redisbus.Options{HealthCheck: 200 * time.Millisecond, RetryBackoff: 100 * time.Millisecond})
	// Two namespaces whose channels live on different masters.
	rs := map[string]*recorder{"user": newRecorder(), "order": newRecorder()}
	for ns, r := range rs {
		if _, err := sub.Subscribe(ns, r); err != nil {
			t.Fatal(err)
		}
		r.subscribed(t)
	}
	for ns, r := range rs {
		publish(t, pub, ns, ns+"-1")
		r.wait(t, "the first key of "+ns, r.hasKeys(ns+"-1"))
	}

	// The channel is a shard channel of its master only.
	master, replica := owners(t, cl, sub.Channel("user"))
	chans, err := master.PubSubShardChannels(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(chans) != fmt.Sprint([]string{sub.Channel("user")}) {
		t.Errorf("shard channels of the owner = %v, want [%s]", chans, sub.Channel("user"))
	}

	if err := replica.ClusterFailover(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r := rs["user"]
	r.wait(t, "the resubscription after the failover", func(r *recorder) bool { return r.count(invalidate.Resubscribed) >= 1 })
	waitFor(t, "a key published after the failover to arrive", func() bool {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = pub.Publish(ctx, &invalidate.Message{Namespace: "user", Keys: []string{"after"}})
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.hasKeys("after")(r)
	})
	publish(t, pub, "order", "order-2")
	rs["order"].wait(t, "the other namespace", rs["order"].hasKeys("order-2"))
}

// owners returns admin clients of the master of cl that serves channel's
// slot and of its replica.
func owners(t *testing.T, cl *redistest.Cluster, channel string) (*redis.Client, *redis.Client) {
	t.Helper()
	ctx := context.Background()
	admin := redis.NewClusterClient(redistest.AdminClusterOptions(cl.Addrs()))
	defer func() { _ = admin.Close() }()
	slot, err := admin.ClusterKeySlot(ctx, channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	//nolint:staticcheck // SA1019: CLUSTER SLOTS is what go-redis itself reads; Redis 7.0 has both
	slots, err := admin.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 1 {
			m := redis.NewClient(redistest.AdminOptions(s.Nodes[0].Addr))
			r := redis.NewClient(redistest.AdminOptions(s.Nodes[1].Addr))
			t.Cleanup(func() { _ = m.Close(); _ = r.Close() })
			return m, r
		}
	}
	t.Fatalf("no master with a replica serves slot %d: %v", slot, slots)
	return nil, nil
}

// A master killed with SIGKILL: its replica takes over, and the bus
// subscribes again on it well before go-redis's own 60 s state reload.
//
// With a log, the subscription cannot replay across it: what the master
// had not replicated when it died is in no log. It flushes (Resubscribed).
func TestIntegration_ClusterMasterKilled(t *testing.T) {
	for _, logLength := range []int{0, 1000} {
		t.Run(fmt.Sprint("log=", logLength), func(t *testing.T) { clusterMasterKilled(t, logLength) })
	}
}

func clusterMasterKilled(t *testing.T, logLength int) {
	cl := redistest.NewCluster(t)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()
	pub := newBus(t, client, &redisbus.Options{RetryBackoff: 100 * time.Millisecond, LogLength: logLength})
	sub := newBus(t, client, &redisbus.Options{HealthCheck: 200 * time.Millisecond, RetryBackoff: 100 * time.Millisecond, LogLength: logLength})
	r := newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	publish(t, pub, "user", "before")
	r.wait(t, "the first key", r.hasKeys("before"))
	broken := invalidate.Interrupted
	if logLength > 0 {
		broken = invalidate.Suspended
	}

	master, _ := owners(t, cl, sub.Channel("user"))
	var victim *redistest.Server
	for _, n := range cl.Nodes() {
		if n.Addr() == master.Options().Addr {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("no node at %s", master.Options().Addr)
	}
	start := time.Now()
	if err := victim.Stop(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "the first sign of the break", func(r *recorder) bool { return r.count(broken) >= 1 })
	interrupted := time.Since(start)
	r.wait(t, "the resubscription on the promoted replica", func(r *recorder) bool { return r.count(invalidate.Resubscribed) >= 1 })
	if n := r.count(invalidate.Resumed); n != 0 {
		t.Errorf("replayed from the log (%d times) across the death of its master", n)
	}
	if seq := r.lostSequence(); seq[1] != broken {
		t.Errorf("Lost calls %v: the break was not reported before the resubscription", seq)
	}
	t.Logf("break reported %v after the kill", interrupted.Round(time.Millisecond))
	waitFor(t, "a key published after the kill to arrive", func() bool {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = pub.Publish(ctx, &invalidate.Message{Namespace: "user", Keys: []string{"after"}})
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.hasKeys("after")(r)
	})
	t.Logf("subscribed again and delivering %v after the kill", time.Since(start).Round(time.Millisecond))
}

// On a real server with Keys: a forged unsigned message, published by a
// plain client with PUBLISH on the channel, never reaches the handler and
// is counted as Rejected, while a signed one from another bus arrives; and
// a bus with [new, old] hears one with [old] (a rotation in progress).
func TestIntegration_Authentication(t *testing.T) {
	srv := redistest.NewServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	pub := newBus(t, client, &redisbus.Options{ID: "pub", Keys: [][]byte{keyOld}})
	sub := newBus(t, client, &redisbus.Options{Keys: [][]byte{keyOld}})
	rotated := newBus(t, client, &redisbus.Options{Keys: [][]byte{keyNew, keyOld}})
	r, rr := newRecorder(), newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Subscribe("user", rr); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	rr.subscribed(t)

	forged := encode(t, &invalidate.Message{Origin: "pub", Seq: 7, Namespace: "user", Keys: []string{"forged"}, Flush: true})
	rawPublish(t, client, sub.Channel("user"), forged)
	publish(t, pub, "user", "signed")
	for _, r := range []*recorder{r, rr} {
		r.wait(t, "the signed message", r.hasKeys("signed"))
		r.mu.Lock()
		if want := []string{"signed"}; !slices.Equal(r.keys, want) || len(r.msgs) != 1 {
			t.Errorf("received keys %q in %d messages, want %q in one", r.keys, len(r.msgs), want)
		}
		if want := []invalidate.LostReason{invalidate.Subscribed}; !slices.Equal(r.lost, want) {
			t.Errorf("Lost calls %v, want %v", r.lost, want)
		}
		if r.rejected() != 1 {
			t.Errorf("%d payloads reported Rejected, want 1", r.rejected())
		}
		r.mu.Unlock()
	}
}

// Redis pub/sub ignores database numbers, and applications that share a
// server may name their caches alike: buses of different databases, or of
// different Scopes, must not hear each other, while buses of the same
// still do.
func TestIntegration_Isolation(t *testing.T) {
	srv := redistest.NewServer(t)
	db0 := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = db0.Close() })
	// SELECT is not among the commands of redistest.ACL: the client of
	// database 5 connects as the admin user.
	opts5 := redistest.AdminOptions(srv.Addr())
	opts5.DB = 5
	db5 := redis.NewClient(opts5)
	t.Cleanup(func() { _ = db5.Close() })
	tests := []struct {
		name               string
		clientA            *redis.Client
		optsA              redisbus.Options
		clientB            *redis.Client
		optsB              redisbus.Options
		channelA, channelB string
	}{
		{"databases 0 and 5", db0, redisbus.Options{}, db5, redisbus.Options{}, "tc:inv:user", "tc:inv:db5:user"},
		{"scopes", db0, redisbus.Options{Scope: "shop"}, db0, redisbus.Options{Scope: "blog"}, "tc:inv:shop:user", "tc:inv:blog:user"},
		{"a scope and none", db0, redisbus.Options{Scope: "shop"}, db0, redisbus.Options{}, "tc:inv:shop:user", "tc:inv:user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two instances on each side.
			a1, a2 := newBus(t, tt.clientA, &tt.optsA), newBus(t, tt.clientA, &tt.optsA)
			b1, b2 := newBus(t, tt.clientB, &tt.optsB), newBus(t, tt.clientB, &tt.optsB)
			if a1.Channel("user") != tt.channelA || b1.Channel("user") != tt.channelB {
				t.Fatalf("channels %q and %q, want %q and %q", a1.Channel("user"), b1.Channel("user"), tt.channelA, tt.channelB)
			}
			ra, rb := newRecorder(), newRecorder()
			if _, err := a2.Subscribe("user", ra); err != nil {
				t.Fatal(err)
			}
			if _, err := b2.Subscribe("user", rb); err != nil {
				t.Fatal(err)
			}
			ra.subscribed(t)
			rb.subscribed(t)
			// The server handles one PUBLISH after the other: once a
			// subscriber has what was published after a message, it would
			// have had that message too.
			publish(t, a1, "user", "from-a")
			ra.wait(t, "a's message at a", ra.hasKeys("from-a"))
			publish(t, b1, "user", "from-b")
			rb.wait(t, "b's message at b", rb.hasKeys("from-b"))
			publish(t, a1, "user", "from-a-again")
			ra.wait(t, "a's second message at a", ra.hasKeys("from-a-again"))
			for _, c := range []struct {
				r    *recorder
				name string
				want []string
			}{{ra, "a", []string{"from-a", "from-a-again"}}, {rb, "b", []string{"from-b"}}} {
				c.r.mu.Lock()
				if !slices.Equal(c.r.keys, c.want) || len(c.r.lost) != 1 || c.r.rejected() != 0 {
					t.Errorf("%s heard keys %q (lost %v, %d rejected), want %q only", c.name, c.r.keys, c.r.lost, c.r.rejected(), c.want)
				}
				c.r.mu.Unlock()
			}
		})
	}
}
