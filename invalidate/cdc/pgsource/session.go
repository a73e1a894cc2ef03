package pgsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

const (
	// frameBuffer is how many received messages wait for the session's loop.
	frameBuffer = 256
	// writeTimeout bounds a status update's write: one to a dead peer
	// fails in time.
	writeTimeout = 10 * time.Second
)

// session is one replication connection, from START_REPLICATION until it
// breaks or Run's context ends. A goroutine receives the server's messages
// and hands them over on a channel, so that the loop knows when nothing
// more has arrived (then it applies what is pending) and can report its
// position while a batch is being applied.
type session struct {
	src  *Source
	conn *pgconn.PgConn
	st   *stream
	vis  *visibility
	sent pglogrepl.LSN // the last position reported to the server
	// silence is how long the server may stay silent, although asked to
	// reply, before the connection is taken for dead: twice its
	// wal_sender_timeout (a walsender busy decoding a large transaction
	// that sends nothing reads replies only that often), 0 for never.
	silence time.Duration

	frames   chan frame
	stop     chan struct{} // closed: the receiver must return
	received chan struct{} // closed by the receiver when it returns
	// waiting is when the receiver started waiting for the server's next
	// message (Unix ns), 0 while it waits for the loop to take one.
	waiting atomic.Int64
}

// frame is a message of the replication stream, or the error that ended it.
type frame struct {
	data []byte // a CopyData's payload (a copy)
	err  error
}

// session connects, starts streaming from the slot's confirmed position
// and streams until the connection breaks or ctx ends. streamed reports
// whether the server sent anything.
func (s *Source) session(ctx context.Context) (streamed bool, err error) {
	slot, err := s.prepare(ctx)
	if err != nil {
		return false, err
	}
	s.advance(slot.confirmed)
	conn, err := pgconn.ConnectConfig(ctx, s.cfg.repl.Copy())
	if err != nil {
		return false, fmt.Errorf("pgsource: connect for replication: %w", err)
	}
	// Start position 0: the slot's confirmed position (the server ignores
	// anything below it, and one above it would skip transactions).
	err = pglogrepl.StartReplication(ctx, conn, s.cfg.Slot, 0, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication,
		PluginArgs: []string{
			"proto_version '1'",
			"publication_names " + quoteLiteral(pgx.Identifier{s.cfg.Publication}.Sanitize()),
		},
	})
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = conn.Close(ctx)
		return false, fmt.Errorf("pgsource: start replication of slot %q: %w", s.cfg.Slot, slotError(err))
	}
	s.cfg.Logger.Info("pgsource: streaming", "slot", s.cfg.Slot, "publication", s.cfg.Publication, "from", slot.confirmed)
	ss := &session{
		src:      s,
		conn:     conn,
		frames:   make(chan frame, frameBuffer),
		stop:     make(chan struct{}),
		received: make(chan struct{}),
	}
	if slot.senderTimeout > 0 {
		ss.silence = max(2*slot.senderTimeout, 10*s.cfg.StatusInterval)
	}
	ss.vis = &visibility{src: s}
	ss.st = &stream{cfg: s.cfg, dec: newDecoder(slot.database), applied: &s.applied, pause: ss.pause, visible: ss.visible}
	go ss.receive()
	// When ctx ends, a read or a write blocked on the connection returns.
	woken := make(chan struct{})
	stopWake := context.AfterFunc(ctx, func() {
		defer close(woken)
		_ = conn.Conn().SetDeadline(time.Now())
	})
	defer func() {
		if !stopWake() {
			<-woken // before close sets deadlines of its own
		}
		ss.close()
	}()
	return ss.loop(ctx)
}

// slotError marks the server's refusals to stream the slot, which
// retrying cannot fix, with ErrBadSlot.
func slotError(err error) error {
	if isFatal(err) {
		return fatal(fmt.Errorf("%w: %w", ErrBadSlot, err))
	}
	return err
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// receive hands the server's messages to the loop until the connection
// fails (or close makes it fail) or stop is closed.
func (ss *session) receive() {
	defer close(ss.received)
	for {
		// Never a context with a deadline here: the connection is woken by
		// its own deadline (see close), not by a cancellation request.
		ss.waiting.Store(time.Now().UnixNano())
		msg, err := ss.conn.ReceiveMessage(context.Background())
		ss.waiting.Store(0)
		var f frame
		switch m := msg.(type) {
		case nil:
			f.err = err
		case *pgproto3.CopyData:
			f.data = bytes.Clone(m.Data) // m is reused by the next receive
		case *pgproto3.ErrorResponse:
			f.err = pgconn.ErrorResponseToPgError(m)
		case *pgproto3.CopyDone:
			f.err = errors.New("pgsource: the server ended the stream")
		default: // notices, parameter changes
			continue
		}
		select {
		case ss.frames <- f:
		case <-ss.stop:
			return
		}
		if f.err != nil {
			return
		}
	}
}

// loop handles the frames, applies the changes, and reports the applied
// position to the server: at once when it asks, after a batch, and every
// StatusInterval.
func (ss *session) loop(ctx context.Context) (streamed bool, err error) {
	tick := time.NewTicker(ss.src.cfg.StatusInterval)
	defer tick.Stop()
	for {
		var f frame
		select {
		case f = <-ss.frames:
		case <-tick.C:
			if err := ss.heartbeat(); err != nil {
				return streamed, err
			}
			continue
		case <-ctx.Done():
			return streamed, ctx.Err()
		}
		for ready := true; ready; {
			if f.err == nil {
				streamed = true
			}
			if err := ss.handle(ctx, f); err != nil {
				return streamed, err
			}
			select {
			case <-tick.C: // a long run of frames: report on time all the same
				if err := ss.heartbeat(); err != nil {
					return streamed, err
				}
			default:
			}
			select {
			case f = <-ss.frames:
			default:
				ready = false
			}
		}
		// Nothing more for now: apply what was received.
		if err := ss.st.idle(ctx); err != nil {
			return streamed, err
		}
		if ss.src.applied > ss.sent {
			if err := ss.status(false); err != nil {
				return streamed, err
			}
		}
	}
}

// handle handles one frame.
func (ss *session) handle(ctx context.Context, f frame) error {
	if f.err != nil {
		return fmt.Errorf("pgsource: replication stream: %w", slotError(f.err))
	}
	if len(f.data) == 0 {
		return nil
	}
	switch f.data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		k, err := pglogrepl.ParsePrimaryKeepaliveMessage(f.data[1:])
		if err != nil {
			return fmt.Errorf("pgsource: %w", err)
		}
		ss.st.keepalive(k.ServerWALEnd)
		if k.ReplyRequested {
			return ss.status(false)
		}
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(f.data[1:])
		if err != nil {
			return fmt.Errorf("pgsource: %w", err)
		}
		return ss.st.xlog(ctx, x.WALStart, x.WALData)
	}
	return nil
}

// heartbeat is the periodic report; it asks the server for a reply when it
// has been quiet for a while, and gives up on a connection that stays
// silent (the network broke without closing it).
func (ss *session) heartbeat() error {
	var quiet time.Duration
	if since := ss.waiting.Load(); since != 0 {
		quiet = time.Since(time.Unix(0, since))
	}
	if ss.silence > 0 && quiet > ss.silence {
		return fmt.Errorf("pgsource: no message from the server for %v", quiet.Round(time.Second))
	}
	return ss.status(quiet > ss.src.cfg.StatusInterval)
}

// status reports the applied position to the server (see statusUpdate).
// It writes to the socket directly, which is safe while the receiver reads
// from it.
func (ss *session) status(replyRequested bool) error {
	return ss.report(replyRequested, writeTimeout)
}

// report writes a status update, within timeout.
func (ss *session) report(replyRequested bool, timeout time.Duration) error {
	pos := ss.src.applied
	if pos == 0 {
		return nil
	}
	conn := ss.conn.Conn()
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(statusUpdate(pos, time.Now(), replyRequested)); err != nil {
		return fmt.Errorf("pgsource: report position %s: %w", pos, err)
	}
	ss.sent = pos
	ss.src.confirmed.Store(uint64(pos))
	return nil
}

// pause waits d (between two attempts to apply a batch), reporting the
// applied position every StatusInterval meanwhile, so that the server
// does not take the connection for dead.
func (ss *session) pause(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(ss.src.cfg.StatusInterval)
	defer tick.Stop()
	for {
		select {
		case <-timer.C:
			return nil
		case <-tick.C:
			if err := ss.status(false); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// visible returns once the transactions xids are visible to new queries,
// unless Options.SkipVisibilityWait.
func (ss *session) visible(ctx context.Context, xids []uint32) error {
	if ss.src.cfg.SkipVisibilityWait {
		return nil
	}
	return ss.vis.wait(ctx, xids, ss.pause)
}

// close stops the receiver, reports the applied position a last time and
// closes the connections.
func (ss *session) close() {
	ss.vis.close()
	close(ss.stop)
	_ = ss.conn.Conn().SetReadDeadline(time.Now()) // wakes the receiver
	<-ss.received
	if ss.conn.IsClosed() { // a receive failed: pgconn closes the connection
		<-ss.conn.CleanupDone()
		return
	}
	_ = ss.conn.Conn().SetDeadline(time.Now().Add(closeTimeout))
	if ss.src.applied > ss.sent {
		_ = ss.report(false, closeTimeout) // best effort: what is not confirmed comes again
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = ss.conn.Close(ctx)
}
