package redisbus_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
)

// A payload over MaxMessageSize is dropped unread and reported Rejected;
// without Keys it may have been a real invalidation, so the handler also
// hears Lost(Malformed). A payload of exactly the cap is read.
func TestBus_MaxMessageSize_Receive(t *testing.T) {
	t.Parallel()
	const maxSize = 4096
	tests := []struct {
		name         string
		keys         [][]byte
		size         int // of the payload
		wantReceived bool
		wantLost     []invalidate.LostReason
	}{
		{"at the cap, without keys", nil, maxSize, true, nil},
		{"over the cap, without keys", nil, maxSize + 1, false, []invalidate.LostReason{invalidate.Malformed}},
		{"at the cap, with keys", [][]byte{keyOld}, maxSize, true, nil},
		{"over the cap, with keys", [][]byte{keyOld}, maxSize + 1, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, client := newMiniredis(t)
			sub := newBus(t, client, &redisbus.Options{Keys: tt.keys, MaxMessageSize: maxSize})
			r := newRecorder()
			if _, err := sub.Subscribe("user", r); err != nil {
				t.Fatal(err)
			}
			r.subscribed(t)
			channel := sub.Channel("user")
			seal := func(m *invalidate.Message) []byte {
				if len(tt.keys) == 0 {
					return encode(t, m)
				}
				return sign(tt.keys[0], channel, encode(t, m))
			}
			// A key long enough to make the payload tt.size bytes.
			m := invalidate.Message{Origin: "x", Seq: 1, Namespace: "user", Keys: []string{""}}
			m.Keys[0] = strings.Repeat("k", tt.size-len(seal(&m))-2) // str16 header
			if n := len(seal(&m)); n != tt.size {
				t.Fatalf("payload of %d bytes, want %d", n, tt.size)
			}
			rawPublish(t, client, channel, seal(&m))
			rawPublish(t, client, channel, seal(&invalidate.Message{Origin: "y", Seq: 1, Namespace: "user", Keys: []string{"marker"}}))
			r.wait(t, "the marker", r.hasKeys("marker"))

			r.mu.Lock()
			defer r.mu.Unlock()
			if got := len(r.msgs) == 2; got != tt.wantReceived {
				t.Errorf("the payload of %d bytes received: %v, want %v", tt.size, got, tt.wantReceived)
			}
			if want := append([]invalidate.LostReason{invalidate.Subscribed}, tt.wantLost...); !slices.Equal(r.lost, want) {
				t.Errorf("Lost calls %v, want %v", r.lost, want)
			}
			if wantRejected := map[bool]int{false: 1}[tt.wantReceived]; r.rejected() != wantRejected {
				t.Errorf("%d Rejected, want %d", r.rejected(), wantRejected)
			}
		})
	}
}

// A message too large for MaxMessageSize goes out as several, none over the
// cap, each with its own sequence number (no gap at the receiver); Flush
// and Prefix go with the first; together they name every key and tag.
func TestBus_SplitsLargeMessages(t *testing.T) {
	t.Parallel()
	for _, keys := range [][][]byte{nil, {keyOld}} {
		t.Run(fmt.Sprintf("%d keys", len(keys)), func(t *testing.T) {
			t.Parallel()
			const maxSize = 4096
			_, client := newMiniredis(t)
			pub := newBus(t, client, &redisbus.Options{ID: "pub", Keys: keys, MaxMessageSize: maxSize})
			sub := newBus(t, client, &redisbus.Options{Keys: keys, MaxMessageSize: maxSize})
			r := newRecorder()
			if _, err := sub.Subscribe("user", r); err != nil {
				t.Fatal(err)
			}
			r.subscribed(t)
			raw := newRawSubscriber(t, client, sub.Channel("user"))

			publish(t, pub, "user", "before") // seq 1: the receiver knows pub
			long := make([]string, 300)
			for i := range long {
				long[i] = fmt.Sprintf("%03d:%s", i, strings.Repeat("k", 60)) // ~20 KB in all
			}
			tags := make([]string, 100)
			for i := range tags {
				tags[i] = fmt.Sprintf("tag-%03d-%s", i, strings.Repeat("t", 40))
			}
			m := &invalidate.Message{Namespace: "user", Keys: long, Tags: tags, Prefix: "user:", Flush: true, Unsettled: true}
			if err := pub.Publish(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			publish(t, pub, "user", "after")
			r.wait(t, "the message after", r.hasKeys("after"))

			r.mu.Lock()
			defer r.mu.Unlock()
			pieces := r.msgs[1 : len(r.msgs)-1]
			if len(pieces) < 6 {
				t.Fatalf("%d messages carried %d keys of 64 bytes under a cap of %d bytes", len(pieces), len(long), maxSize)
			}
			var gotKeys, gotTags []string
			for i, p := range pieces {
				if p.Seq != uint64(2+i) {
					t.Errorf("piece %d has seq %d, want %d", i, p.Seq, 2+i)
				}
				if first := i == 0; p.Flush != first || (p.Prefix != "") != first || !p.Unsettled {
					t.Errorf("piece %d: Flush %v, Prefix %q, Unsettled %v", i, p.Flush, p.Prefix, p.Unsettled)
				}
				gotKeys = append(gotKeys, p.Keys...)
				gotTags = append(gotTags, p.Tags...)
			}
			if !slices.Equal(gotKeys, long) || !slices.Equal(gotTags, tags) {
				t.Errorf("the pieces carry %d keys and %d tags, want %d and %d in order", len(gotKeys), len(gotTags), len(long), len(tags))
			}
			if n := r.count(invalidate.Gap) + r.count(invalidate.Malformed); n != 0 || r.rejected() != 0 {
				t.Errorf("Lost calls %v, %d Rejected; want no loss", r.lost, r.rejected())
			}
			// On the wire: every payload within the cap.
			for range len(r.msgs) {
				if p := raw.next(t); len(p) > maxSize {
					t.Errorf("a payload of %d bytes, over MaxMessageSize %d", len(p), maxSize)
				}
			}
		})
	}
}

// A message that cannot be split to fit (one key longer than the cap) is
// refused: Publish fails and sends nothing, and uses no sequence number.
func TestBus_PublishTooLarge(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	pub := newBus(t, client, &redisbus.Options{ID: "pub", MaxMessageSize: 4096})
	r := newRecorder()
	if _, err := pub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	err := pub.Publish(context.Background(), &invalidate.Message{Namespace: "user", Keys: []string{"a", strings.Repeat("k", 4096)}})
	if err == nil || !strings.HasPrefix(err.Error(), "redisbus: publish: invalidate: cannot split") {
		t.Fatalf("Publish of a key of 4096 bytes = %v, want an error", err)
	}
	publish(t, pub, "user", "next")
	r.wait(t, "the next message", r.hasKeys("next"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 1 || r.msgs[0].Seq != 1 {
		t.Errorf("messages %+v, want only the next one, seq 1", r.msgs)
	}
}

// Merging respects MaxMessageSize as well as MaxBatch: keys published
// while a message is on its way are merged into messages within the cap.
func TestBus_BatchingRespectsMaxMessageSize(t *testing.T) {
	t.Parallel()
	for _, keys := range [][][]byte{nil, {keyOld}} {
		t.Run(fmt.Sprintf("%d keys", len(keys)), func(t *testing.T) {
			t.Parallel()
			const maxSize = 4096
			_, client := newMiniredis(t)
			gate := make(chan struct{})
			hook := &blockHook{gate: gate, entered: make(chan struct{}, 1)}
			pc := redis.NewClient(&redis.Options{Addr: client.Options().Addr})
			pc.AddHook(hook)
			t.Cleanup(func() { _ = pc.Close() })
			pub := newBus(t, pc, &redisbus.Options{Keys: keys, MaxMessageSize: maxSize})
			sub := newBus(t, client, &redisbus.Options{Keys: keys, MaxMessageSize: maxSize})
			r := newRecorder()
			if _, err := sub.Subscribe("user", r); err != nil {
				t.Fatal(err)
			}
			r.subscribed(t)
			raw := newRawSubscriber(t, client, sub.Channel("user"))

			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); publish(t, pub, "user", "first") }()
			<-hook.entered // the first message is on its way
			hook.mu.Lock()
			hook.gate = nil
			hook.mu.Unlock()
			// 40 keys of 500 bytes queue behind it: 20 KB, five times the cap.
			queued := make([]string, 40)
			done := make(chan error, len(queued))
			for i := range queued {
				queued[i] = fmt.Sprintf("%02d:%s", i, strings.Repeat("k", 497))
				go func() {
					done <- pub.Publish(context.Background(), &invalidate.Message{Namespace: "user", Keys: []string{queued[i]}})
				}()
			}
			waitFor(t, "the publishes to queue", func() bool { return redisbus.Queued(pub, "user") == len(queued) })
			close(gate)
			wg.Wait()
			for range queued {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			r.wait(t, "every key", r.hasKeys(append(queued, "first")...))

			r.mu.Lock()
			defer r.mu.Unlock()
			// 1 + 40 publishes: merged, but at most 8 keys of 500 bytes a message.
			if n := len(r.msgs); n < 1+len(queued)/8 || n > 1+len(queued)/2 {
				t.Errorf("%d messages carried 41 publishes, want between %d and %d", n, 1+len(queued)/8, 1+len(queued)/2)
			}
			if len(r.lost) != 1 || r.rejected() != 0 {
				t.Errorf("Lost calls %v, %d Rejected; want only Subscribed", r.lost, r.rejected())
			}
			for range len(r.msgs) {
				if p := raw.next(t); len(p) > maxSize {
					t.Errorf("a payload of %d bytes, over MaxMessageSize %d", len(p), maxSize)
				}
			}
		})
	}
}
