package redisbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate"
)

// Subscribe registers h for the messages of namespace and returns at once;
// see [invalidate.Bus]. One goroutine per namespace reads the subscription:
// it notices every reconnection (go-redis resubscribes by itself, and what
// was published in between is lost), every UNSUBSCRIBE the server sent
// unasked (a Cluster failover ends sharded subscriptions, and go-redis does
// not renew them), and every gap in an origin's sequence numbers, and calls
// h.Lost for each.
func (b *Bus) Subscribe(namespace string, h invalidate.Handler) (func(), error) {
	if h == nil {
		return nil, errors.New("redisbus: nil handler")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, invalidate.ErrClosed
	}
	if _, ok := b.subs[namespace]; ok {
		return nil, fmt.Errorf("%w: %q", invalidate.ErrSubscribed, namespace)
	}
	ctx, cancel := context.WithCancel(context.Background())
	channel := b.Channel(namespace)
	s := &subscription{b: b, ns: namespace, channel: channel, h: h, open: b.newOpener(channel), quit: make(chan struct{}), cancel: cancel}
	s.observer, _ = h.(invalidate.Observer)
	if b.cfg.LogLength > 0 {
		s.log = &logState{key: b.LogKey(namespace), recent: recent{size: min(recentSize, b.cfg.LogLength/4)}}
	}
	b.subs[namespace] = s
	b.wg.Add(1)
	go s.run(ctx)
	return func() {
		b.mu.Lock()
		if b.subs[namespace] == s {
			delete(b.subs, namespace)
		}
		b.mu.Unlock()
		s.stop()
	}, nil
}

// subscription reads one namespace's channel.
type subscription struct {
	b           *Bus
	ns, channel string
	h           invalidate.Handler
	observer    invalidate.Observer // h, when it is one
	// Read goroutine only:
	open    opener
	tracker invalidate.Tracker
	// interrupted: Lost(Interrupted) or Lost(Suspended) was called and
	// Lost(Resubscribed) or Lost(Resumed) not yet.
	interrupted bool
	// log: what the subscription knows of the namespace's log; nil
	// without Options.LogLength.
	log *logState
	// rejectLog and malformedLog limit the lines about dropped payloads.
	rejectLog, malformedLog rarely

	quit     chan struct{}
	stopOnce sync.Once
	cancel   context.CancelFunc // ends the context of dials and receives

	mu sync.Mutex
	ps *redis.PubSub // the current connection; nil once stopped
}

// stop ends the subscription and closes its connection, which makes a
// blocked receive return. It does not wait for the goroutine (Close does).
func (s *subscription) stop() {
	s.stopOnce.Do(func() {
		close(s.quit)
		s.cancel()
		s.mu.Lock()
		if s.ps != nil {
			_ = s.ps.Close()
		}
		s.mu.Unlock()
	})
}

func (s *subscription) stopped() bool {
	select {
	case <-s.quit:
		return true
	case <-s.b.done:
		return true
	default:
		return false
	}
}

// run subscribes, reads, and subscribes again on a new connection whenever
// the current one is beyond repair, until stop or Close.
func (s *subscription) run(ctx context.Context) {
	defer s.b.wg.Done()
	defer s.cancel()
	go func() { // Close of the bus stops the subscription too
		select {
		case <-s.b.done:
			s.stop()
		case <-s.quit:
		}
	}()
	subscribed := false // whether a subscription was ever in place
	for attempt := 0; !s.stopped(); {
		ps := s.b.newPubSub(ctx, s.channel) // dials: not under s.mu, which stop takes
		s.mu.Lock()
		if s.stopped() {
			s.mu.Unlock()
			_ = ps.Close()
			break
		}
		s.ps = ps
		s.mu.Unlock()

		err := s.read(ctx, ps, &subscribed, &attempt)
		_ = ps.Close()
		if s.stopped() {
			break
		}
		s.interrupt(subscribed)
		s.b.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "tiercache: invalidation subscription lost, subscribing again",
			slog.String("channel", s.channel), slog.Any("error", err))
		s.b.reloadState(ctx)
		if !s.b.sleep(s.b.backoff(attempt)) {
			break
		}
		attempt++
	}
	s.mu.Lock()
	s.ps = nil
	s.mu.Unlock()
}

// interrupt tells the handler, once per break, that the subscription is
// broken: messages are missed until it is restored (Lost(Resubscribed)).
// Before the first subscription there is nothing to interrupt: the handler
// has not heard Lost(Subscribed) yet.
func (s *subscription) interrupt(subscribed bool) {
	if !subscribed || s.interrupted || s.stopped() {
		return
	}
	s.interrupted = true
	if s.log != nil { // what is missed from now on will be replayed
		s.h.Lost(invalidate.Suspended)
		return
	}
	s.h.Lost(invalidate.Interrupted)
}

// restored tells the handler that the subscription is back: with a log,
// after replaying what it missed (Lost(Resumed)), or, when that fails or
// there is no log, Lost(Resubscribed).
func (s *subscription) restored(ctx context.Context) {
	s.interrupted = false
	if s.log == nil {
		s.b.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "tiercache: invalidation subscription restored",
			slog.String("channel", s.channel))
		s.h.Lost(invalidate.Resubscribed)
		return
	}
	n, err := s.replay(ctx)
	if err == nil {
		s.b.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "tiercache: invalidation subscription restored, missed messages replayed from the log",
			slog.String("channel", s.channel), slog.Int("replayed", n))
		s.h.Lost(invalidate.Resumed)
		return
	}
	s.b.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "tiercache: invalidation subscription restored, but not from the log",
		slog.String("channel", s.channel), slog.Any("error", err))
	s.h.Lost(invalidate.Resubscribed)
	s.mark(ctx)
}

// errUnsubscribed: the server ended the subscription without being asked.
var errUnsubscribed = errors.New("redisbus: subscription ended by the server")

// read receives from ps until the connection cannot be repaired or the
// subscription stops. go-redis reconnects and resubscribes on its own after
// a network error; every confirmation of a subscription after the first
// means messages may have been lost.
func (s *subscription) read(ctx context.Context, ps *redis.PubSub, subscribed *bool, attempt *int) error {
	pinged := false
	var m invalidate.Message
	failures := 0
	for !s.stopped() {
		msg, err := ps.ReceiveTimeout(ctx, s.b.cfg.HealthCheck)
		if err != nil {
			if s.stopped() {
				return err
			}
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				if pinged { // no answer to the ping: the connection is dead
					return fmt.Errorf("redisbus: no answer to ping: %w", err)
				}
				if err := ps.Ping(ctx); err != nil {
					return fmt.Errorf("redisbus: ping: %w", err)
				}
				pinged = true
				continue
			}
			// Every other error means the subscription is broken, at
			// least until go-redis has dialled and subscribed again:
			// from now on messages are missed.
			s.interrupt(*subscribed)
			var rerr redis.Error
			if errors.As(err, &rerr) {
				// The server refused the subscription (MOVED while a
				// Cluster's slots move): the connection is fine, and
				// go-redis will not subscribe again on it.
				return fmt.Errorf("redisbus: subscribe: %w", err)
			}
			// A network error: go-redis has dropped the connection and
			// dials again on the next receive. Back off in between, and
			// start over with a fresh PubSub when it keeps failing.
			failures++
			if failures > 3 {
				return err
			}
			s.b.reloadState(ctx)
			if !s.b.sleep(s.b.backoff(*attempt + failures - 1)) {
				return err
			}
			continue
		}
		pinged, failures = false, 0
		switch msg := msg.(type) {
		case *redis.Subscription:
			switch msg.Kind {
			case "subscribe", "ssubscribe":
				*attempt = 0
				// The tracker keeps the origins' numbers: a message lost
				// around the resubscription, even after this flush, shows
				// as a gap at the origin's next one.
				if *subscribed {
					s.restored(ctx)
				} else {
					*subscribed = true
					s.h.Lost(invalidate.Subscribed)
					if s.log != nil {
						s.mark(ctx)
					}
				}
			case "unsubscribe", "sunsubscribe":
				if s.stopped() {
					return nil
				}
				s.interrupt(*subscribed)
				return errUnsubscribed
			}
		case *redis.Message:
			s.deliver(ctx, msg.Payload, &m)
		case *redis.Pong:
		}
	}
	return nil
}
