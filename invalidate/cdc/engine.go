package cdc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tiercache/tiercache/tiered/stats"
)

// DefaultBatchSize is how many keys one Delete of a Target carries at most.
const DefaultBatchSize = 1000

// Target is what the engine evicts a namespace's keys through: the
// namespace's *tiered.Invalidator, whose Delete has the guarantees of
// Cache.Delete (tombstones, leases revoked, every instance's L1 through the
// bus, retried until L2 takes it).
type Target interface {
	Delete(ctx context.Context, keys ...string) error
	InvalidateTags(ctx context.Context, tags ...string) error
	Flush(ctx context.Context) error
}

// DeadLetter is a change the engine could not decode or map: handed to
// Options.DeadLetters and counted (stats.CDCDeadLetter), never a reason to
// stop the stream.
type DeadLetter struct {
	// Event is the change, when it was decoded (nil otherwise). A change
	// that mapped only in part (a template's column was missing) comes
	// with its event; what did map was evicted.
	Event *Event
	// Raw is the source's bytes of a change that could not be decoded.
	Raw []byte
	// Position is where the change stands in its source's stream.
	Position string
	// Err says what was wrong.
	Err error
}

// Options configures an [Engine]. Rules and Targets are required.
type Options struct {
	// Rules map tables to namespaces' keys and tags.
	Rules []Rule
	// Targets holds the Target of every namespace the rules name.
	Targets map[string]Target
	// DeadLetters receives the changes that could not be decoded or
	// mapped, after the batch they came in was applied. It must be fast.
	// Default: they are logged (and counted either way).
	DeadLetters func(DeadLetter)
	// BatchSize bounds the keys of one Target.Delete. Default
	// DefaultBatchSize.
	BatchSize int
	// Stats records the changes applied (stats.CDCApplied), skipped
	// (CDCSkipped), dead-lettered (CDCDeadLetter) and the lag from commit
	// to eviction (CDCLag). Each change decoded is counted once: applied
	// when all its rules mapped it, skipped when none maps its table,
	// dead-lettered otherwise (what did map was evicted all the same).
	// Default: none.
	Stats stats.Recorder
	// Logger receives dead letters (without DeadLetters) and failures.
	// Default: discards.
	Logger *slog.Logger
	// Now is the clock of the lag. Default time.Now.
	Now func() time.Time
}

// Engine turns database changes into evictions. It is safe for concurrent
// use and holds no state between calls: a source calls Apply with each
// batch of changes, in stream order, and confirms the batch's position to
// the database (or Kafka) only when Apply returned nil. Evictions are
// idempotent, so a batch applied again after a crash does no harm: the
// engine delivers at least once.
type Engine struct {
	byTable map[string][]*rule
	rules   []Rule
	targets map[string]Target
	cfg     Options
	stats   stats.Recorder
}

// New returns an Engine of opts, or an error when a rule is invalid or
// names a namespace that has no Target.
func New(opts *Options) (*Engine, error) {
	if opts == nil {
		return nil, errors.New("cdc: nil Options")
	}
	cfg := *opts
	if cfg.BatchSize < 0 {
		return nil, fmt.Errorf("cdc: BatchSize must not be negative, got %d", cfg.BatchSize)
	}
	cfg.BatchSize = cmp.Or(cfg.BatchSize, DefaultBatchSize)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Rules) == 0 {
		return nil, errors.New("cdc: no Rules")
	}
	e := &Engine{byTable: make(map[string][]*rule), rules: slices.Clone(cfg.Rules), targets: make(map[string]Target), cfg: cfg,
		stats: stats.ForCache(cfg.Stats, "cdc")}
	for _, r := range cfg.Rules {
		c, err := compileRule(r)
		if err != nil {
			return nil, err
		}
		t := cfg.Targets[r.Namespace]
		if t == nil {
			return nil, fmt.Errorf("cdc: rule for %s names namespace %q, which has no Target", r.Table, r.Namespace)
		}
		e.targets[r.Namespace] = t
		e.byTable[r.Table] = append(e.byTable[r.Table], &c)
	}
	return e, nil
}

// Rules returns the engine's rules, for a source that checks what the
// database sends (see Rule.Columns).
func (e *Engine) Rules() []Rule { return slices.Clone(e.rules) }

// Maps reports whether some rule maps table.
func (e *Engine) Maps(table Table) bool { return len(e.byTable[table.String()]) > 0 }

// Apply evicts what events change, in their namespaces' caches: for each
// namespace, the keys and tags that the rows before and after each change
// map to (an update that moves a row evicts both its old and its new
// keys; a create evicts too, since a cache may hold the row's absence), or
// the whole namespace for a truncate. It returns nil once every eviction
// was applied; then, and only then, the source may confirm the position
// of the batch's last event. On error nothing is counted, and the source
// applies the batch again later.
//
// A change of a table that no rule maps is counted as skipped. A change
// that does not map (a missing column, an old row the source did not send,
// a function's error) is dead-lettered once the batch is applied, with
// whatever did map evicted.
func (e *Engine) Apply(ctx context.Context, events []Event) error {
	works := make(map[string]*work)
	var (
		applied, skipped int
		dead             []DeadLetter
	)
	for i := range events {
		ev := &events[i]
		rules := e.byTable[ev.Table.String()]
		if len(rules) == 0 {
			skipped++
			continue
		}
		var first error
		for _, r := range rules {
			w := works[r.Namespace]
			if w == nil {
				w = &work{}
				works[r.Namespace] = w
			}
			if err := e.mapEvent(ev, r, w); err != nil && first == nil {
				first = err
			}
		}
		if first != nil {
			dead = append(dead, DeadLetter{Event: ev, Position: ev.Position, Err: first})
		} else {
			applied++
		}
	}
	var errs []error
	for _, ns := range sortedKeys(works) {
		if err := e.evict(ctx, e.targets[ns], works[ns]); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cdc: apply %d changes: %w", len(events), errors.Join(errs...))
	}
	e.stats.Add(stats.CDCApplied, applied)
	if skipped > 0 {
		e.stats.Add(stats.CDCSkipped, skipped)
	}
	now := e.cfg.Now()
	for i := range events {
		if c := events[i].Commit; !c.IsZero() && e.byTable[events[i].Table.String()] != nil {
			e.stats.Observe(stats.CDCLag, now.Sub(c))
		}
	}
	for _, d := range dead {
		e.Reject(d)
	}
	return nil
}

// errNoOldRow is the error of an update's or delete's rule that cannot
// map the old row, which the source did not send.
var errNoOldRow = fmt.Errorf("%w: the source sent no old row", ErrMissingColumn)

// mapEvent adds what ev changes under r to w.
func (e *Engine) mapEvent(ev *Event, r *rule, w *work) error {
	switch ev.Op {
	case Create, Read:
		return r.apply(ev.After, w)
	case Update:
		// Without the old row (PostgreSQL's REPLICA IDENTITY DEFAULT on an
		// update that keeps the primary key), the new row's keys are the
		// old row's too; what other columns mapped to is not known.
		var errBefore error
		if ev.Before != nil {
			errBefore = r.apply(ev.Before, w)
		}
		return cmp.Or(r.apply(ev.After, w), errBefore)
	case Delete:
		if ev.Before == nil {
			return errNoOldRow
		}
		return r.apply(ev.Before, w)
	case Truncate:
		w.flush = true
		return nil
	}
	return fmt.Errorf("cdc: unknown operation %v", ev.Op)
}

// evict applies w through t.
func (e *Engine) evict(ctx context.Context, t Target, w *work) error {
	if w.flush { // a truncate: the namespace goes, whatever else the batch named
		return t.Flush(ctx)
	}
	for keys := range slices.Chunk(w.keys, e.cfg.BatchSize) {
		if err := t.Delete(ctx, keys...); err != nil {
			return err
		}
	}
	if len(w.tags) > 0 {
		return t.InvalidateTags(ctx, w.tags...)
	}
	return nil
}

// Reject hands d to the dead-letter hook and counts it. Sources report
// the changes they cannot decode through it.
func (e *Engine) Reject(d DeadLetter) {
	e.stats.Add(stats.CDCDeadLetter, 1)
	if e.cfg.DeadLetters != nil {
		e.cfg.DeadLetters(d)
		return
	}
	attrs := []slog.Attr{slog.String("position", d.Position), slog.Any("err", d.Err)}
	if d.Event != nil {
		attrs = append(attrs, slog.String("table", d.Event.Table.String()), slog.String("op", d.Event.Op.String()))
	}
	e.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "tiercache: cdc change dead-lettered", attrs...)
}

// work is what a batch evicts in one namespace: keys and tags without
// duplicates, in the order first met, or the whole namespace.
type work struct {
	keys, tags       []string
	seenKey, seenTag map[string]struct{}
	flush            bool
}

func (w *work) key(k string) { w.keys = addNew(w.keys, &w.seenKey, k) }
func (w *work) tag(t string) { w.tags = addNew(w.tags, &w.seenTag, t) }

// addNew appends s to list unless seen holds it.
func addNew(list []string, seen *map[string]struct{}, s string) []string {
	if *seen == nil {
		*seen = make(map[string]struct{})
	}
	if _, dup := (*seen)[s]; dup {
		return list
	}
	(*seen)[s] = struct{}{}
	return append(list, s)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
