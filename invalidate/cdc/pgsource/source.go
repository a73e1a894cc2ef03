package pgsource

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
)

// Source streams a PostgreSQL database's changes through logical
// replication (the pgoutput plugin, protocol version 1) to a cdc.Engine,
// and confirms to the server only the changes the engine applied: at
// least once. Make it with [New] and call [Source.Run].
type Source struct {
	cfg       *config
	running   atomic.Bool
	confirmed atomic.Uint64 // the last position reported to the server

	// Run's alone:
	applied pglogrepl.LSN // every change up to it is applied
	checked bool          // Check's warnings were logged
}

// New returns a Source of opts, or an error when the options are invalid.
// It connects to nothing: Run does.
func New(opts *Options) (*Source, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg}, nil
}

// Run streams the changes to the engine until ctx ends, and returns ctx's
// error then. It creates the publication and the slot first when they are
// missing and the options say so. When the connection breaks (the server
// restarts, another consumer holds the slot, the network fails), Run
// connects again, after pauses that start at 50 ms and double up to
// Options.RetryBackoff, and streams from the last position confirmed: the
// changes received and not confirmed come again. It returns early only on
// an error that retrying cannot fix: [ErrNoSlot], [ErrNoPublication],
// [ErrBadSlot], a refused login, a missing database or table.
//
// A batch the engine fails to apply is applied again, after the same
// pauses, until it succeeds; nothing after it is confirmed meanwhile.
//
// When Run returns, its connections are closed and its goroutines have
// ended. Run may be called again afterwards, but not twice at once.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("pgsource: Run is already running")
	}
	defer s.running.Store(false)
	backoff := minBackoff
	for {
		streamed, err := s.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isFatal(err) {
			s.cfg.Logger.Error("pgsource: cannot stream", "slot", s.cfg.Slot, "err", err)
			return err
		}
		if streamed {
			backoff = minBackoff
		}
		s.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "pgsource: replication interrupted; reconnecting",
			slog.String("slot", s.cfg.Slot), slog.Duration("retry_in", backoff), slog.Any("err", err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, s.cfg.RetryBackoff)
	}
}

// Confirmed returns the last position the source confirmed to the server:
// every change of the publication's tables committed before it was
// applied by the engine. It is the slot's confirmed position once Run has
// connected, and it only grows.
func (s *Source) Confirmed() pglogrepl.LSN { return pglogrepl.LSN(s.confirmed.Load()) }

// advance notes that every change before pos is applied: at the start of
// a session, pos is the slot's confirmed position.
func (s *Source) advance(pos pglogrepl.LSN) {
	s.applied = max(s.applied, pos)
	if uint64(pos) > s.confirmed.Load() {
		s.confirmed.Store(uint64(pos))
	}
}
