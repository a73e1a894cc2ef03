package kafkasource

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// errRebalance is why a batch is given back when a rebalance waits for it.
var errRebalance = errors.New("kafkasource: a rebalance is waiting")

// batch decodes records, applies them and commits them. A batch that is
// not applied (ctx ended, or a rebalance waits while Apply keeps failing)
// is given back: its partitions are rewound to its first records, and
// nothing of it is committed, so its records are read again.
func (s *Source) batch(ctx context.Context, cl *kgo.Client, records []*kgo.Record, wanted <-chan struct{}) {
	events := make([]cdc.Event, 0, len(records))
	var dead []cdc.DeadLetter
	for _, r := range records {
		ev, err := cdc.DecodeDebezium(r.Key, r.Value)
		switch {
		case err == nil:
			ev.Position = position(r)
			events = append(events, ev)
		case errors.Is(err, cdc.ErrTombstone), errors.Is(err, cdc.ErrNotAChange):
			// Nothing to evict; committed with the batch.
		default:
			dead = append(dead, cdc.DeadLetter{Raw: r.Value, Position: position(r), Err: err})
		}
	}
	if err := s.apply(ctx, events, wanted); err != nil {
		s.cfg.Logger.Info("tiercache: kafka batch given back", "records", len(records), "err", err)
		cl.SetOffsets(firstOffsets(records))
		return
	}
	// Like the engine's own dead letters: once the batch is applied, so
	// that a batch applied again does not dead-letter twice.
	for _, d := range dead {
		s.cfg.Engine.Reject(d)
	}
	if s.afterApply != nil {
		s.afterApply(records)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := cl.CommitRecords(cctx, records...); err != nil {
		// The records were applied: if their partitions move, the new
		// owner applies them again, which does no harm.
		s.cfg.Logger.Warn("tiercache: kafka commit failed", "records", len(records), "err", err)
	}
}

// apply applies events until Apply returns nil (nil), ctx ends (its
// error) or a rebalance waits after a failure (errRebalance).
func (s *Source) apply(ctx context.Context, events []cdc.Event, wanted <-chan struct{}) error {
	if len(events) == 0 {
		return nil
	}
	backoff := s.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		err := s.cfg.Engine.Apply(ctx, events)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cfg.Logger.Warn("tiercache: cdc apply failed, retrying", "changes", len(events), "attempt", attempt,
			"backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wanted:
			t.Stop()
			return errRebalance
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.MaxRetryBackoff)
	}
}

// position is a record's place, "topic/partition@offset".
func position(r *kgo.Record) string {
	return r.Topic + "/" + strconv.FormatInt(int64(r.Partition), 10) + "@" + strconv.FormatInt(r.Offset, 10)
}

// firstOffsets returns the offset of the first of records in each of
// their partitions.
func firstOffsets(records []*kgo.Record) map[string]map[int32]kgo.EpochOffset {
	first := make(map[string]map[int32]kgo.EpochOffset)
	for _, r := range records {
		parts := first[r.Topic]
		if parts == nil {
			parts = make(map[int32]kgo.EpochOffset)
			first[r.Topic] = parts
		}
		if at, ok := parts[r.Partition]; !ok || r.Offset < at.Offset {
			parts[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
		}
	}
	return first
}
