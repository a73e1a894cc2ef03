package pgsource

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// stream is what the source knows of one replication connection's stream:
// the relations described, the changes decoded and not yet applied, and
// the position up to which every change is applied. It batches the changes
// and hands them to the engine; the session around it does the I/O.
//
// Batches end at a transaction's end: pending[:txStart] holds whole
// transactions, the last of which ends at done, and pending[txStart:] the
// changes of the open one. A transaction alone larger than MaxBatch is
// applied in parts as it arrives, and its end is confirmed after its last
// part.
type stream struct {
	cfg *config
	dec *decoder
	// applied is the position up to which every change is applied: what
	// the source may confirm. It belongs to the Source and outlives the
	// stream.
	applied *pglogrepl.LSN
	// pause waits d between two attempts to apply a batch, keeping the
	// connection alive meanwhile.
	pause func(ctx context.Context, d time.Duration) error

	pending []cdc.Event
	txStart int
	done    pglogrepl.LSN
	inTx    bool
	commit  time.Time     // the open transaction's commit time
	walEnd  pglogrepl.LSN // the WAL end of the server's last keepalive
}

// xlog handles one pgoutput message of the stream, which stands at pos.
// It returns an error only when a batch could not be applied before ctx
// ended; a message that cannot be decoded goes to the engine's dead
// letters.
func (st *stream) xlog(ctx context.Context, pos pglogrepl.LSN, data []byte) error {
	m, err := parse(data)
	if err != nil {
		st.reject(pos, data, err)
		return nil
	}
	switch m := m.(type) {
	case *pglogrepl.RelationMessage:
		st.dec.relation(m)
	case *pglogrepl.BeginMessage:
		st.inTx = true
		st.commit = m.CommitTime
	case *pglogrepl.CommitMessage:
		// TransactionEndLSN, not CommitLSN: confirming the commit record's
		// start would have the server send the transaction again.
		return st.end(ctx, m.TransactionEndLSN)
	case *pglogrepl.InsertMessage, *pglogrepl.UpdateMessage, *pglogrepl.DeleteMessage, *pglogrepl.TruncateMessage:
		evs, err := st.dec.changes(m, pos, st.commit)
		if err != nil {
			st.reject(pos, data, err)
		}
		for _, ev := range evs {
			if err := st.push(ctx, ev); err != nil {
				return err
			}
		}
	}
	// Type, Origin and logical decoding messages change no row.
	return nil
}

// keepalive notes the server's WAL end: once every change received is
// applied, the source may confirm it, so that the slot does not keep WAL
// that holds no change of the publication.
func (st *stream) keepalive(walEnd pglogrepl.LSN) {
	st.walEnd = max(st.walEnd, walEnd)
	st.caughtUp()
}

// idle applies the whole transactions pending: nothing more has arrived
// for now.
func (st *stream) idle(ctx context.Context) error {
	if err := st.applyDone(ctx); err != nil {
		return err
	}
	st.caughtUp()
	return nil
}

// caughtUp advances the applied position to the server's last WAL end
// when every change received is applied: nothing that stands before it is
// left to apply.
func (st *stream) caughtUp() {
	if !st.inTx && len(st.pending) == 0 {
		st.advance(st.walEnd)
	}
}

// end closes the open transaction, which ends at end.
func (st *stream) end(ctx context.Context, end pglogrepl.LSN) error {
	st.inTx = false
	st.txStart = len(st.pending)
	if st.txStart == 0 { // no change, or all applied in parts already
		st.advance(end)
		return nil
	}
	st.done = end
	if len(st.pending) >= st.cfg.MaxBatch {
		return st.applyDone(ctx)
	}
	return nil
}

// push adds a change of the open transaction, and applies a batch when
// MaxBatch changes are pending: the whole transactions before the open
// one, or else, when the open one fills the batch alone, its changes so
// far.
func (st *stream) push(ctx context.Context, ev cdc.Event) error {
	st.pending = append(st.pending, ev)
	if len(st.pending) < st.cfg.MaxBatch {
		return nil
	}
	if st.txStart > 0 {
		return st.applyDone(ctx)
	}
	if err := st.apply(ctx, st.pending); err != nil {
		return err
	}
	st.drop(len(st.pending))
	return nil
}

// applyDone applies the whole transactions pending and advances the
// applied position to the end of the last.
func (st *stream) applyDone(ctx context.Context) error {
	if st.txStart == 0 {
		return nil
	}
	if err := st.apply(ctx, st.pending[:st.txStart]); err != nil {
		return err
	}
	st.drop(st.txStart)
	st.advance(st.done)
	st.done = 0
	return nil
}

// apply has the engine apply events, again and again with growing pauses
// until it succeeds (evictions are idempotent), or ctx ends.
func (st *stream) apply(ctx context.Context, events []cdc.Event) error {
	backoff := minBackoff
	for attempt := 1; ; attempt++ {
		err := st.cfg.Engine.Apply(ctx, events)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "pgsource: applying changes failed; retrying",
			slog.Int("changes", len(events)), slog.String("position", events[0].Position),
			slog.Int("attempt", attempt), slog.Duration("retry_in", backoff), slog.Any("err", err))
		if err := st.pause(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, st.cfg.RetryBackoff)
	}
}

// drop removes the first n pending changes. The applied ones keep their
// array: the engine's dead letters point into it.
func (st *stream) drop(n int) {
	st.pending = slices.Clone(st.pending[n:])
	st.txStart = max(st.txStart-n, 0)
}

func (st *stream) advance(pos pglogrepl.LSN) {
	if pos > *st.applied {
		*st.applied = pos
	}
}

// reject hands a message that could not be decoded to the dead letters.
func (st *stream) reject(pos pglogrepl.LSN, data []byte, err error) {
	st.cfg.Engine.Reject(cdc.DeadLetter{Raw: data, Position: pos.String(), Err: err})
}
