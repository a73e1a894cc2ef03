package redisbus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
)

func TestBus_RoundTrip(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	a := newBus(t, client, &redisbus.Options{ID: "a"})
	b := newBus(t, client, &redisbus.Options{ID: "b"})
	ra, rb := newRecorder(), newRecorder()
	if _, err := a.Subscribe("user", ra); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe("user", rb); err != nil {
		t.Fatal(err)
	}
	ra.subscribed(t)
	rb.subscribed(t)

	publish(t, a, "user", "1", "2")
	publish(t, a, "other", "3") // another namespace: nobody listens
	rb.wait(t, "keys 1 and 2", rb.hasKeys("1", "2"))
	ra.wait(t, "its own message", ra.hasKeys("1", "2"))
	rb.mu.Lock()
	defer rb.mu.Unlock()
	m := rb.msgs[0]
	if m.Origin != "a" || m.Seq != 1 || m.Namespace != "user" || m.Sent == 0 {
		t.Errorf("message = %+v, want origin a, seq 1, namespace user, a send time", m)
	}
	if len(rb.keys) != 2 || len(rb.lost) != 1 {
		t.Errorf("b got keys %v and lost %v, want 2 keys and one Subscribed", rb.keys, rb.lost)
	}
	// The publishing bus reports its sends to its own handler of the
	// namespace (an invalidate.Observer): one for "user"; "other" has none.
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.events[invalidate.Sent] != 1 || rb.events[invalidate.Sent] != 0 {
		t.Errorf("Sent events: a %d, b %d; want 1 and 0", ra.events[invalidate.Sent], rb.events[invalidate.Sent])
	}
}

func TestBus_SubscribeErrors(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	b := newBus(t, client, nil)
	unsub, err := b.Subscribe("user", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe("user", newRecorder()); !errors.Is(err, invalidate.ErrSubscribed) {
		t.Errorf("second Subscribe = %v, want ErrSubscribed", err)
	}
	unsub()
	unsub() // idempotent
	r := newRecorder()
	if _, err := b.Subscribe("user", r); err != nil {
		t.Fatalf("Subscribe after unsubscribe: %v", err)
	}
	r.subscribed(t)
	if _, err := b.Subscribe("x", nil); err == nil {
		t.Error("Subscribe with a nil handler did not fail")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := b.Subscribe("y", newRecorder()); !errors.Is(err, invalidate.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
	err = b.Publish(context.Background(), &invalidate.Message{Namespace: "user", Keys: []string{"1"}})
	if !errors.Is(err, invalidate.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestNew_Errors(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	if _, err := redisbus.New(nil, nil); err == nil {
		t.Error("New(nil) did not fail")
	}
	key := []byte("0123456789abcdef")
	tests := []struct {
		name string
		opts redisbus.Options
		want string // in the error
	}{
		{"negative MaxBatch", redisbus.Options{MaxBatch: -1}, "must not be negative"},
		{"ID with a space", redisbus.Options{ID: "has space"}, "ID must be"},
		{"negative HealthCheck", redisbus.Options{HealthCheck: -time.Second}, "must not be negative"},
		{"five keys", redisbus.Options{Keys: [][]byte{key, key, key, key, key}}, "at most 4 Keys, got 5"},
		{"a short key", redisbus.Options{Keys: [][]byte{key, key[:15]}}, "Keys[1] has 15 bytes, want at least 16"},
		{"an empty key", redisbus.Options{Keys: [][]byte{nil}}, "Keys[0] has 0 bytes"},
		{"MaxMessageSize below 4 KiB", redisbus.Options{MaxMessageSize: 4095}, "MaxMessageSize must be 0 (the default) or at least 4096"},
		{"negative MaxMessageSize", redisbus.Options{MaxMessageSize: -1}, "MaxMessageSize must be"},
		{"Scope with a colon", redisbus.Options{Scope: "shop:eu"}, "no ':'"},
		{"Scope with a space", redisbus.Options{Scope: "shop eu"}, "no white space"},
		{"Scope with a tab", redisbus.Options{Scope: "shop\teu"}, "no white space"},
		{"Scope too long", redisbus.Options{Scope: strings.Repeat("s", 65)}, "at most 64 characters"},
		{"Scope like a database", redisbus.Options{Scope: "db5"}, "form of a database number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := redisbus.New(client, &tt.opts)
			if err == nil {
				_ = b.Close()
				t.Fatalf("New did not fail")
			}
			if !strings.HasPrefix(err.Error(), "redisbus: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %q, want an error starting with \"redisbus: \" containing %q", err, tt.want)
			}
		})
	}
	// The limits themselves are valid.
	for _, o := range []redisbus.Options{
		{Keys: [][]byte{key, key, key, key}, MaxMessageSize: 4096, Scope: strings.Repeat("s", 64)},
		{Scope: "db"}, {Scope: "dbx"}, {Scope: "shop-eu.2"},
	} {
		b, err := redisbus.New(client, &o)
		if err != nil {
			t.Errorf("New(%+v) = %v", o, err)
			continue
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close of the bus of %+v: %v", o, err)
		}
	}
}

// A restarted server drops the subscription; go-redis resubscribes, and the
// bus reports it once.
func TestBus_ResubscribeAfterRestart(t *testing.T) {
	t.Parallel()
	m, client := newMiniredis(t)
	pub := newBus(t, client, nil)
	r := newRecorder()
	sub := newBus(t, client, &redisbus.Options{HealthCheck: 100 * time.Millisecond})
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	m.Close()
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "the resubscription", func(r *recorder) bool { return r.count(invalidate.Resubscribed) == 1 })
	publish(t, pub, "user", "after")
	r.wait(t, "a message after the restart", r.hasKeys("after"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.count(invalidate.Resubscribed); n != 1 {
		t.Errorf("%d resubscriptions reported, want 1", n)
	}
}

// Garbage on the channel, and a skipped sequence number, both make the bus
// report a possible loss.
func TestBus_GapAndMalformed(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	sub := newBus(t, client, nil)
	r := newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	ctx := context.Background()
	raw := func(seq uint64, key string) {
		m := invalidate.Message{Origin: "x", Seq: seq, Namespace: "user", Keys: []string{key}}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Publish(ctx, sub.Channel("user"), b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	raw(1, "k1")
	raw(2, "k2")
	raw(4, "k4") // 3 is missing
	r.wait(t, "k4", r.hasKeys("k4"))
	if err := client.Publish(ctx, sub.Channel("user"), "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "the malformed message", func(r *recorder) bool { return r.count(invalidate.Malformed) == 1 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.count(invalidate.Gap); n != 1 {
		t.Errorf("%d gaps reported, want 1 (lost %v)", n, r.lost)
	}
	// The gap is reported before the message that revealed it.
	//nolint:staticcheck // QF1010: LostReason has a String method; as a string the slice would print bytes, not names
	if want := []invalidate.LostReason{invalidate.Subscribed, invalidate.Gap, invalidate.Malformed}; fmt.Sprint(r.lost) != fmt.Sprint(want) {
		t.Errorf("lost = %v, want %v", r.lost, want)
	}
}

// Messages published while one is on its way are merged into one; with
// MaxBatch 1 they are not.
func TestBus_Batching(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		maxBatch int
		wantMsgs int
	}{{0, 2}, {1, 11}, {4, 4}} { // 1 blocked + 10 behind it: merged into 1, 10, or 3 of at most 4 keys
		t.Run(fmt.Sprint("MaxBatch=", tt.maxBatch), func(t *testing.T) {
			t.Parallel()
			_, client := newMiniredis(t)
			gate := make(chan struct{})
			hook := &blockHook{gate: gate, entered: make(chan struct{}, 1)}
			pc := redis.NewClient(&redis.Options{Addr: client.Options().Addr})
			pc.AddHook(hook)
			t.Cleanup(func() { _ = pc.Close() })
			pub := newBus(t, pc, &redisbus.Options{MaxBatch: tt.maxBatch})
			sub := newBus(t, client, nil)
			r := newRecorder()
			if _, err := sub.Subscribe("user", r); err != nil {
				t.Fatal(err)
			}
			r.subscribed(t)

			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); publish(t, pub, "user", "first") }()
			<-hook.entered // the first message is on its way
			hook.mu.Lock()
			hook.gate = nil // later publishes go straight through
			hook.mu.Unlock()
			keys := make([]string, 10)
			for i := range keys {
				keys[i] = fmt.Sprint("k", i)
			}
			// Queue the ten behind the first, in order, before it is answered.
			done := make(chan error, len(keys))
			for _, k := range keys {
				go func() {
					done <- pub.Publish(context.Background(), &invalidate.Message{Namespace: "user", Keys: []string{k}})
				}()
			}
			waitFor(t, "the publishes to queue", func() bool { return redisbus.Queued(pub, "user") == len(keys) })
			close(gate)
			wg.Wait()
			for range keys {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			r.wait(t, "every key", r.hasKeys(append(keys, "first")...))
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.msgs) != tt.wantMsgs {
				t.Errorf("%d messages carried 11 publishes, want %d", len(r.msgs), tt.wantMsgs)
			}
		})
	}
}

// A message that fails is sent again by itself; its lost sequence number
// makes receivers that heard the publisher before flush.
func TestBus_PublishRetry(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	hook := &blockHook{}
	pc := redis.NewClient(&redis.Options{Addr: client.Options().Addr})
	pc.AddHook(hook)
	t.Cleanup(func() { _ = pc.Close() })
	pub := newBus(t, pc, &redisbus.Options{RetryBackoff: 20 * time.Millisecond})
	sub := newBus(t, client, nil)
	r := newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	publish(t, pub, "user", "1")
	hook.mu.Lock()
	hook.fail = 2
	hook.mu.Unlock()
	err := pub.Publish(context.Background(), &invalidate.Message{Namespace: "user", Keys: []string{"2"}})
	if !errors.Is(err, errInjected) {
		t.Fatalf("Publish = %v, want the injected error", err)
	}
	r.wait(t, "the retried key", r.hasKeys("2"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count(invalidate.Gap) != 1 {
		t.Errorf("lost = %v, want one gap", r.lost)
	}
	if last := r.msgs[len(r.msgs)-1]; last.Seq != 4 {
		t.Errorf("the retry carries seq %d, want 4 (two attempts failed)", last.Seq)
	}
}

// Options.Publish carries every payload in place of the bus's client: the
// subscriber hears what the hook sent, a failure of the hook fails Publish
// and is retried like a failure of the client, and the hook is told the
// bus is not sharded.
func TestBus_PublishHook(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	var (
		mu      sync.Mutex
		calls   int
		fail    = 1 // the second call fails once
		sharded []bool
	)
	pub := newBus(t, client, &redisbus.Options{
		RetryBackoff: 20 * time.Millisecond,
		Publish: func(ctx context.Context, channel string, payload []byte, shard bool) error {
			mu.Lock()
			calls++
			sharded = append(sharded, shard)
			n := calls
			mu.Unlock()
			if n == 2 && fail > 0 {
				fail--
				return errInjected
			}
			return client.Publish(ctx, channel, payload).Err()
		},
	})
	sub := newBus(t, client, nil)
	r := newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	publish(t, pub, "user", "1")
	err := pub.Publish(context.Background(), &invalidate.Message{Namespace: "user", Keys: []string{"2"}})
	if !errors.Is(err, errInjected) {
		t.Fatalf("Publish = %v, want the hook's error", err)
	}
	r.wait(t, "keys 1 and the retried 2", r.hasKeys("1", "2"))
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Errorf("hook called %d times, want 3 (a send, a failure, its retry)", calls)
	}
	for i, s := range sharded {
		if s {
			t.Errorf("call %d: sharded = true on a single-node client", i)
		}
	}
}
