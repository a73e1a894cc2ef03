package redisbus_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Handler that keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	keys   []string
	msgs   []invalidate.Message
	lost   []invalidate.LostReason
	events map[invalidate.Event]int // Observe: events
	change chan struct{}            // signalled after every call
}

func newRecorder() *recorder { return &recorder{change: make(chan struct{}, 1)} }

func (r *recorder) Receive(m *invalidate.Message) {
	r.mu.Lock()
	c := *m
	c.Keys, c.Tags = slices.Clone(m.Keys), slices.Clone(m.Tags)
	r.msgs = append(r.msgs, c)
	r.keys = append(r.keys, m.Keys...)
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) Lost(reason invalidate.LostReason) {
	r.mu.Lock()
	r.lost = append(r.lost, reason)
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) Observe(ev invalidate.Event, _ int) {
	r.mu.Lock()
	if r.events == nil {
		r.events = make(map[invalidate.Event]int)
	}
	r.events[ev]++
	r.mu.Unlock()
	r.signal()
}

// lostSequence returns the reasons of the Lost calls so far, in order.
func (r *recorder) lostSequence() []invalidate.LostReason {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lost)
}

func (r *recorder) signal() {
	select {
	case r.change <- struct{}{}:
	default:
	}
}

// wait blocks until cond holds (checked under the lock after every call)
// or fails the test after 15 s.
func (r *recorder) wait(t testing.TB, what string, cond func(r *recorder) bool) {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond(r)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.change:
		case <-deadline.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timed out waiting for %s; lost %v, %d messages, keys %v", what, r.lost, len(r.msgs), r.keys)
		}
	}
}

func (r *recorder) count(reason invalidate.LostReason) int {
	n := 0
	for _, l := range r.lost {
		if l == reason {
			n++
		}
	}
	return n
}

// subscribed waits for the first subscription of r.
func (r *recorder) subscribed(t testing.TB) {
	t.Helper()
	r.wait(t, "the subscription", func(r *recorder) bool { return r.count(invalidate.Subscribed) == 1 })
}

func (r *recorder) hasKeys(keys ...string) func(*recorder) bool {
	return func(r *recorder) bool {
		for _, k := range keys {
			if !slices.Contains(r.keys, k) {
				return false
			}
		}
		return true
	}
}

// newBus returns a bus over client, closed at the end of the test.
func newBus(t testing.TB, client redis.UniversalClient, opts *redisbus.Options) *redisbus.Bus {
	t.Helper()
	b, err := redisbus.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// newMiniredis returns an embedded Redis and a client of it.
func newMiniredis(t *testing.T) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	return m, client
}

// publish publishes a message of keys on ns and fails the test on error.
func publish(t *testing.T, b invalidate.Bus, ns string, keys ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Publish(ctx, &invalidate.Message{Namespace: ns, Keys: keys}); err != nil {
		t.Fatal(err)
	}
}

// blockHook makes the PUBLISH and SPUBLISH commands of a client wait on a
// gate, or fail, on demand.
type blockHook struct {
	mu      sync.Mutex
	gate    chan struct{} // non-nil: publishes wait for it to close
	entered chan struct{} // signalled when a publish waits
	fail    int           // publishes to fail
}

var errInjected = errors.New("injected publish failure")

func (h *blockHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *blockHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *blockHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		// A logging bus publishes with a script.
		if name := cmd.Name(); name != "publish" && name != "spublish" && name != "evalsha" && name != "eval" {
			return next(ctx, cmd)
		}
		h.mu.Lock()
		gate := h.gate
		fail := h.fail > 0
		if fail {
			h.fail--
		}
		h.mu.Unlock()
		if gate != nil {
			h.entered <- struct{}{}
			<-gate
		}
		if fail {
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}

// waitFor polls cond until it holds, or fails the test after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// sign returns msg followed by its MAC for channel under key, computed here
// from the specification (HMAC-SHA256 over the channel, a 0 byte and msg,
// truncated to 16 bytes), not by the bus.
func sign(key []byte, channel string, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(channel))
	h.Write([]byte{0})
	h.Write(msg)
	return append(slices.Clip(msg), h.Sum(nil)[:16]...)
}

// encode returns the encoding of m, failing the test on error.
func encode(t *testing.T, m *invalidate.Message) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawPublish publishes payload on channel with a plain client, as anyone
// with PUBLISH on the channel could.
func rawPublish(t *testing.T, client redis.UniversalClient, channel string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Publish(ctx, channel, payload).Err(); err != nil {
		t.Fatal(err)
	}
}

// rejected returns how many payloads the bus reported as Rejected.
func (r *recorder) rejected() int { return r.events[invalidate.Rejected] }

// logCounter is a slog.Handler that counts its records by message.
type logCounter struct {
	mu    sync.Mutex
	count map[string]int
	last  map[string]slog.Record
}

func newLogCounter() *logCounter {
	return &logCounter{count: make(map[string]int), last: make(map[string]slog.Record)}
}

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count[r.Message]++
	h.last[r.Message] = r.Clone()
	return nil
}
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }

func (h *logCounter) get(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count[msg]
}

// rawSubscriber listens on channel with a plain client and hands over the
// payloads as they are, to check what the bus puts on the wire.
type rawSubscriber struct {
	ps *redis.PubSub
}

func newRawSubscriber(t *testing.T, client *redis.Client, channel string) *rawSubscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps := client.Subscribe(ctx, channel)
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(ctx); err != nil { // the confirmation
		t.Fatal(err)
	}
	return &rawSubscriber{ps: ps}
}

// next returns the next payload, or fails the test after 15 s.
func (s *rawSubscriber) next(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	msg, err := s.ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("raw subscriber: %v", err)
	}
	return []byte(msg.Payload)
}
