package redisbus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tiercache/tiercache/invalidate"
)

// Why open drops a payload unread. Both are reported as
// invalidate.Rejected, never to Receive.
var (
	errTooLarge = errors.New("redisbus: payload larger than MaxMessageSize")
	errForged   = errors.New("redisbus: payload not signed with any of Keys")
)

// opener checks and decodes the payloads of one channel. It belongs to the
// read goroutine of a subscription: it reuses its buffer and hash states.
type opener struct {
	max  int   // Options.MaxMessageSize
	auth *auth // nil: payloads are not signed
	buf  []byte
}

func (b *Bus) newOpener(channel string) opener {
	return opener{max: b.cfg.MaxMessageSize, auth: newAuth(channel, b.cfg.Keys)}
}

// open decodes payload into m, in time and memory linear in its length. It
// returns errTooLarge for a payload longer than the cap (before any other
// work), errForged for one whose MAC is missing or wrong under every key,
// and an error wrapping [invalidate.ErrMalformed] for one that does not
// decode (m is then reset).
func (o *opener) open(payload string, m *invalidate.Message) error {
	if len(payload) > o.max {
		return errTooLarge
	}
	// A copy: the decoded strings must not alias the payload, and the
	// MAC is computed over bytes.
	o.buf = append(o.buf[:0], payload...)
	msg := o.buf
	if o.auth != nil {
		var ok bool
		if msg, ok = o.auth.verify(msg); !ok {
			return errForged
		}
	}
	return m.UnmarshalBinary(msg)
}

// deliver hands one payload of the channel to the handler: a message goes
// to Receive, after Lost(Gap) when its number reveals a gap. A payload
// dropped unread is reported as Rejected to an Observer, and does not move
// the tracker; only without Keys, where it may have been a genuine
// invalidation too large to read, does the handler hear Lost(Malformed) as
// well. A payload that does not decode (from a peer of a newer version, or
// garbage on a channel without Keys) is Lost(Malformed).
func (s *subscription) deliver(ctx context.Context, payload string, m *invalidate.Message) {
	err := s.open.open(payload, m)
	switch {
	case err == nil:
		if s.tracker.Next(m.Origin, m.Seq) {
			s.gap(ctx)
		}
		if s.log != nil {
			s.log.recent.add(heard{m.Origin, m.Seq})
		}
		s.h.Receive(m)
		return
	case errors.Is(err, errTooLarge) || errors.Is(err, errForged):
		if s.observer != nil {
			s.observer.Observe(invalidate.Rejected, 0)
		}
		s.logRarely(ctx, &s.rejectLog, "tiercache: invalidation payload rejected", len(payload), err)
		if s.open.auth != nil {
			return
		}
	default:
		s.logRarely(ctx, &s.malformedLog, "tiercache: undecodable invalidation message", len(payload), err)
	}
	s.h.Lost(invalidate.Malformed)
}

// gap handles a message whose number revealed a gap: the messages missed
// are replayed from the log, or the handler hears Lost(Gap).
func (s *subscription) gap(ctx context.Context) {
	if s.log != nil {
		_, err := s.replay(ctx)
		if err == nil {
			return
		}
		s.b.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "tiercache: a gap in the invalidation messages could not be replayed from the log",
			slog.String("channel", s.channel), slog.Any("error", err))
	}
	s.h.Lost(invalidate.Gap)
	if s.log != nil {
		s.mark(ctx)
	}
}

// logRarely logs a dropped payload, unless r logged one less than a minute
// ago: whoever may publish on the channel may publish garbage at every
// instance's log.
func (s *subscription) logRarely(ctx context.Context, r *rarely, msg string, size int, err error) {
	skipped, ok := r.allow(time.Now())
	if !ok {
		return
	}
	s.b.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("channel", s.channel), slog.Int("bytes", size),
		slog.Any("error", err), slog.Int("not_logged", skipped))
}

// rarelyEvery is the shortest interval between two lines of one rarely.
const rarelyEvery = time.Minute

// rarely limits a log line to the first occurrence, then one a minute,
// counting the occurrences not logged in between. Its zero value is ready;
// it is not safe for concurrent use.
type rarely struct {
	next    time.Time // before it, occurrences are not logged
	skipped int
}

// allow reports whether an occurrence at now should be logged and, if so,
// how many were not since the last one logged.
func (r *rarely) allow(now time.Time) (skipped int, ok bool) {
	if now.Before(r.next) {
		r.skipped++
		return 0, false
	}
	skipped, r.skipped = r.skipped, 0
	r.next = now.Add(rarelyEvery)
	return skipped, true
}
