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
	// visible returns once the transactions xids are visible to new
	// queries (see session.waitVisible).
	visible func(ctx context.Context, xids []uint32) error

	pending []cdc.Event
	txStart int
	done    pglogrepl.LSN
	inTx    bool
	commit  time.Time     // the open transaction's commit time
	walEnd  pglogrepl.LSN // the WAL end of the server's last keepalive
	// xid is the open transaction's id, and xids the ids of the whole
	// transactions pending (those with a change in pending[:txStart]).
	xid  uint32
	xids []uint32
	// opened reports whether the open transaction has a change pending.
	opened bool
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
		st.xid = m.Xid
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
	if st.opened {
		st.xids = append(st.xids, st.xid)
		st.opened = false
	}
	st.txStart = len(st.pending)
	if st.txStart == 0 { // no change, or all applied in parts already
		st.xids = st.xids[:0]
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
	st.opened = true
	if len(st.pending) < st.cfg.MaxBatch {
		return nil
	}
	if st.txStart > 0 {
		return st.applyDone(ctx)
	}
	if err := st.apply(ctx, st.pending, []uint32{st.xid}); err != nil {
		return err
	}
	st.drop(len(st.pending))
	st.opened = false
	return nil
}

// applyDone applies the whole transactions pending and advances the
// applied position to the end of the last.
func (st *stream) applyDone(ctx context.Context) error {
	if st.txStart == 0 {
		return nil
	}
	if err := st.apply(ctx, st.pending[:st.txStart], st.xids); err != nil {
		return err
	}
	st.drop(st.txStart)
	st.xids = st.xids[:0]
	st.advance(st.done)
	st.done = 0
	return nil
}

// apply waits until the transactions xids, which made events, are visible
// to new queries, then has the engine apply events, again and again with
// growing pauses until it succeeds (evictions are idempotent), or ctx
// ends.
//
// The wait closes a race: the server may send a transaction as soon as
// its commit record is on disk, a moment before the transaction becomes
// visible to other sessions. A cache that evicted the rows then and
// reloaded one at once would read, and keep, its previous version.
func (st *stream) apply(ctx context.Context, events []cdc.Event, xids []uint32) error {
	if err := st.visible(ctx, xids); err != nil {
		return err
	}
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
