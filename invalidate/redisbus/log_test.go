package redisbus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
)

// dialGate refuses the new connections of a client while it is held, so
// that a subscription whose connection was killed stays away for as long
// as a test needs.
type dialGate struct {
	mu   sync.Mutex
	open chan struct{} // closed: dials go through
}

var errGateHeld = errors.New("dial refused by the test")

func newDialGate() *dialGate {
	g := &dialGate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *dialGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *dialGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *dialGate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	default:
		return nil, errGateHeld
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// logRig is a standalone server with a publishing bus and a subscribing
// one, both logging, the subscriber's dials behind a gate.
type logRig struct {
	srv   *redistest.Server
	admin *redis.Client
	pub   *redisbus.Bus
	sub   *redisbus.Bus
	gate  *dialGate
	r     *recorder
}

func newLogRig(t *testing.T, logLength int) *logRig {
	t.Helper()
	srv := redistest.NewServer(t)
	g := newDialGate()
	pubClient := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	subClient := redis.NewClient(&redis.Options{Addr: srv.Addr(), Dialer: g.dial})
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr()))
	t.Cleanup(func() {
		g.release()
		_ = pubClient.Close()
		_ = subClient.Close()
		_ = admin.Close()
	})
	// A connection in the subscriber's pool, for its reads of the log
	// while the gate is held.
	if err := subClient.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	rig := &logRig{srv: srv, admin: admin, gate: g, r: newRecorder(),
		pub: newBus(t, pubClient, &redisbus.Options{ID: "pub", LogLength: logLength}),
		sub: newBus(t, subClient, &redisbus.Options{ID: "sub", LogLength: logLength, HealthCheck: 200 * time.Millisecond, RetryBackoff: 50 * time.Millisecond}),
	}
	if _, err := rig.sub.Subscribe("user", rig.r); err != nil {
		t.Fatal(err)
	}
	rig.r.subscribed(t)
	return rig
}

// away cuts the subscriber off: its pub/sub connection is killed and no
// new one can be dialled until back.
func (rig *logRig) away(t *testing.T) {
	t.Helper()
	rig.gate.hold()
	if err := rig.admin.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	rig.r.wait(t, "the subscription to break", func(r *recorder) bool { return r.count(invalidate.Suspended) == 1 })
}

// A subscription that broke replays from the log what was published
// while it was away: the handler hears Suspended and Resumed, never a
// reason to flush, and every missed key in between.
func TestLog_ReplaysWhatWasMissed(t *testing.T) {
	rig := newLogRig(t, 1000)
	publish(t, rig.pub, "user", "before")
	rig.r.wait(t, "the first key", rig.r.hasKeys("before"))

	rig.away(t)
	var missed []string
	for i := range 50 {
		k := fmt.Sprintf("missed-%d", i)
		missed = append(missed, k)
		publish(t, rig.pub, "user", k)
	}
	rig.gate.release()
	rig.r.wait(t, "the replay", func(r *recorder) bool { return r.count(invalidate.Resumed) == 1 })
	rig.r.mu.Lock()
	for _, k := range missed {
		if !slices.Contains(rig.r.keys, k) {
			t.Errorf("key %s, published while away, was not replayed", k)
		}
	}
	rig.r.mu.Unlock()
	publish(t, rig.pub, "user", "after")
	rig.r.wait(t, "a key after the replay", rig.r.hasKeys("after"))
	want := []invalidate.LostReason{invalidate.Subscribed, invalidate.Suspended, invalidate.Resumed}
	if got := rig.r.lostSequence(); !slices.Equal(got, want) {
		t.Errorf("Lost calls %v, want %v", got, want)
	}
}

// A log that no longer reaches back to the last message heard cannot
// say what was missed: the handler is told to flush (Resubscribed).
func TestLog_TrimmedPastTheLastMessageHeard(t *testing.T) {
	rig := newLogRig(t, 100)
	publish(t, rig.pub, "user", "before")
	rig.r.wait(t, "the first key", rig.r.hasKeys("before"))
	rig.away(t)
	for i := range 400 { // Redis trims in blocks of 100 entries: 400 is past any
		publish(t, rig.pub, "user", fmt.Sprintf("k%d", i))
	}
	rig.gate.release()
	rig.r.wait(t, "the resubscription", func(r *recorder) bool { return r.count(invalidate.Resubscribed) == 1 })
	want := []invalidate.LostReason{invalidate.Subscribed, invalidate.Suspended, invalidate.Resubscribed}
	if got := rig.r.lostSequence(); !slices.Equal(got, want) {
		t.Errorf("Lost calls %v, want %v", got, want)
	}
}

// A publisher heard recently that does not log (an instance of an older
// release, or one without LogLength, during a rolling deploy) may have
// published while the subscription was away: it cannot be replayed.
func TestLog_PublisherWithoutLog(t *testing.T) {
	rig := newLogRig(t, 1000)
	plainClient := redis.NewClient(&redis.Options{Addr: rig.srv.Addr()})
	t.Cleanup(func() { _ = plainClient.Close() })
	plain := newBus(t, plainClient, &redisbus.Options{ID: "plain"})
	publish(t, plain, "user", "unlogged")
	publish(t, rig.pub, "user", "logged")
	rig.r.wait(t, "both keys", rig.r.hasKeys("unlogged", "logged"))
	rig.away(t)
	publish(t, rig.pub, "user", "missed")
	rig.gate.release()
	rig.r.wait(t, "the resubscription", func(r *recorder) bool { return r.count(invalidate.Resubscribed) == 1 })
	if n := rig.r.count(invalidate.Resumed); n != 0 {
		t.Errorf("Resumed %d times with a publisher that does not log", n)
	}
}

// A server that restarts may have lost the log's last entries: the
// subscription does not replay across it.
func TestLog_ServerRestart(t *testing.T) {
	rig := newLogRig(t, 1000)
	publish(t, rig.pub, "user", "before")
	rig.r.wait(t, "the first key", rig.r.hasKeys("before"))
	if err := rig.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := rig.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	rig.r.wait(t, "the resubscription", func(r *recorder) bool { return r.count(invalidate.Resubscribed) == 1 })
	if n := rig.r.count(invalidate.Resumed); n != 0 {
		t.Errorf("Resumed %d times across a restart", n)
	}
}

// A message whose send failed leaves a gap in its origin's numbers; the
// subscription finds in the log that nothing it could miss is missing,
// and the handler hears no reason to flush.
func TestLog_GapReplayed(t *testing.T) {
	srv := redistest.NewServer(t)
	hook := &blockHook{}
	pubClient := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	pubClient.AddHook(hook)
	subClient := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = pubClient.Close(); _ = subClient.Close() })
	pub := newBus(t, pubClient, &redisbus.Options{LogLength: 1000, RetryBackoff: 10 * time.Millisecond})
	sub := newBus(t, subClient, &redisbus.Options{LogLength: 1000})
	r := newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	publish(t, pub, "user", "a")
	r.wait(t, "the first key", r.hasKeys("a"))
	hook.mu.Lock()
	hook.fail = 1
	hook.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, &invalidate.Message{Namespace: "user", Keys: []string{"b"}}); err == nil {
		t.Fatal("the injected failure did not fail the publish")
	}
	r.wait(t, "the retried key", r.hasKeys("b")) // its number is one past the failed one
	want := []invalidate.LostReason{invalidate.Subscribed}
	if got := r.lostSequence(); !slices.Equal(got, want) {
		t.Errorf("Lost calls %v, want %v", got, want)
	}
}

// The log is in the channel's slot, on the master that serves the channel.
func TestLog_KeyInTheChannelSlot(t *testing.T) {
	client := redis.NewClient(&redis.Options{})
	defer func() { _ = client.Close() }()
	b, err := redisbus.New(client, &redisbus.Options{Scope: "shop", LogLength: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if got, want := b.LogKey("user"), "{tc:inv:shop:user}:log"; got != want {
		t.Errorf("LogKey = %q, want %q", got, want)
	}
	tagged, err := redisbus.New(client, &redisbus.Options{Prefix: "{app}:inv:", LogLength: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tagged.Close() }()
	if got, want := tagged.LogKey("user"), "{app}:inv:user:log"; got != want {
		t.Errorf("LogKey with a hash tag in the prefix = %q, want %q", got, want)
	}
}

// A manual failover of the master that holds the channel and its log
// (CLUSTER FAILOVER) loses no entry: the replica that takes over continues
// the master's replication, and the old master follows it without a full
// resynchronization. A subscription that was away across it replays what
// was published before and after from the new master. A master killed
// instead cannot say what it had not replicated: that costs a flush.
func TestLog_ClusterFailover(t *testing.T) {
	cl := redistest.NewCluster(t)
	g := newDialGate()
	pubClient := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	subClient := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), Dialer: g.dial})
	t.Cleanup(func() { g.release(); _ = pubClient.Close(); _ = subClient.Close() })
	ctx := context.Background()
	pub := newBus(t, pubClient, &redisbus.Options{LogLength: 1000, RetryBackoff: 50 * time.Millisecond})
	sub := newBus(t, subClient, &redisbus.Options{LogLength: 1000, HealthCheck: 200 * time.Millisecond, RetryBackoff: 50 * time.Millisecond})
	r := newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	publish(t, pub, "user", "before")
	r.wait(t, "the first key", r.hasKeys("before"))

	master, replica := owners(t, cl, sub.Channel("user"))
	g.hold()
	if err := master.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "the subscription to break", func(r *recorder) bool { return r.count(invalidate.Suspended) == 1 })
	var missed []string
	for i := range 20 {
		missed = append(missed, fmt.Sprint("old-master-", i))
		publish(t, pub, "user", missed[len(missed)-1])
	}
	if err := replica.ClusterFailover(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica to take over", func() bool {
		role, err := replica.Do(ctx, "ROLE").Slice()
		return err == nil && len(role) > 0 && role[0] == "master"
	})
	waitFor(t, "a publish on the new master", func() bool {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return pub.Publish(ctx, &invalidate.Message{Namespace: "user", Keys: []string{"new-master"}}) == nil
	})
	missed = append(missed, "new-master")
	g.release()
	r.wait(t, "the replay", func(r *recorder) bool { return r.count(invalidate.Resumed)+r.count(invalidate.Resubscribed) == 1 })
	r.wait(t, "every missed key", r.hasKeys(missed...))
	want := []invalidate.LostReason{invalidate.Subscribed, invalidate.Suspended, invalidate.Resumed}
	if got := r.lostSequence(); !slices.Equal(got, want) {
		t.Errorf("Lost calls %v, want %v", got, want)
	}
}

// A subscription whose log was empty when it subscribed, and that heard
// nothing since, still replays: the log holds everything published after
// it (too few entries for any trim), and when nothing was, there is
// nothing to replay.
func TestLog_EmptyAtSubscription(t *testing.T) {
	rig := newLogRig(t, 1000)
	rig.away(t)
	rig.gate.release()
	rig.r.wait(t, "the first replay", func(r *recorder) bool { return r.count(invalidate.Resumed) == 1 })

	rig2 := newLogRig(t, 1000)
	rig2.away(t)
	publish(t, rig2.pub, "user", "missed")
	rig2.gate.release()
	rig2.r.wait(t, "the replay", func(r *recorder) bool { return r.count(invalidate.Resumed) == 1 })
	rig2.r.wait(t, "the missed key", rig2.r.hasKeys("missed"))
	for _, r := range []*recorder{rig.r, rig2.r} {
		if n := r.count(invalidate.Resubscribed); n != 0 {
			t.Errorf("%d resubscription flushes", n)
		}
	}
}
