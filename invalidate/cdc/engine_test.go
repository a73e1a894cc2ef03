package cdc_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
	"github.com/tiercache/tiercache/tiered/stats"
)

var users = cdc.Table{Database: "app", Schema: "public", Name: "users"}

func newEngine(t *testing.T, opt func(*cdc.Options), rules ...cdc.Rule) (*cdc.Engine, map[string]*cdctest.Recorder, *stats.Counter, *[]cdc.DeadLetter) {
	t.Helper()
	targets := map[string]cdc.Target{}
	recs := map[string]*cdctest.Recorder{}
	for _, r := range rules {
		if recs[r.Namespace] == nil {
			recs[r.Namespace] = cdctest.NewRecorder()
			targets[r.Namespace] = recs[r.Namespace]
		}
	}
	st := &stats.Counter{}
	var dead []cdc.DeadLetter
	opts := &cdc.Options{Rules: rules, Targets: targets, Stats: st, DeadLetters: func(d cdc.DeadLetter) { dead = append(dead, d) }}
	if opt != nil {
		opt(opts)
	}
	e, err := cdc.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, recs, st, &dead
}

func TestApply_Mapping(t *testing.T) {
	t.Parallel()
	byID := cdc.Rule{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}, Tags: []string{"company:{company_id}"}}
	byEmail := cdc.Rule{Table: "public.users", Namespace: "user_by_email", Keys: []string{"{email}"}}
	row := func(id, email, company string) cdc.Row {
		return cdc.Row{"id": id, "email": email, "company_id": company}
	}
	tests := []struct {
		name  string
		ev    cdc.Event
		user  []string // calls on namespace user
		email []string // on user_by_email
		dead  bool
	}{
		{"create evicts the new row (a cached absence)",
			cdc.Event{Table: users, Op: cdc.Create, After: row("1", "a@x", "10")},
			[]string{"delete 1", "tags company:10"}, []string{"delete a@x"}, false},
		{"snapshot read evicts like a create",
			cdc.Event{Table: users, Op: cdc.Read, After: row("1", "a@x", "10")},
			[]string{"delete 1", "tags company:10"}, []string{"delete a@x"}, false},
		{"update evicts the old and the new row",
			cdc.Event{Table: users, Op: cdc.Update, Before: row("1", "a@x", "10"), After: row("1", "b@x", "11")},
			[]string{"delete 1", "tags company:10 company:11"}, []string{"delete a@x b@x"}, false},
		{"update of the primary key",
			cdc.Event{Table: users, Op: cdc.Update, Before: row("1", "a@x", "10"), After: row("2", "a@x", "10")},
			[]string{"delete 1 2", "tags company:10"}, []string{"delete a@x"}, false},
		{"update without the old row (REPLICA IDENTITY DEFAULT, key kept)",
			cdc.Event{Table: users, Op: cdc.Update, After: row("1", "b@x", "11")},
			[]string{"delete 1", "tags company:11"}, []string{"delete b@x"}, false},
		{"delete evicts the old row",
			cdc.Event{Table: users, Op: cdc.Delete, Before: row("1", "a@x", "10")},
			[]string{"delete 1", "tags company:10"}, []string{"delete a@x"}, false},
		{"delete with only the key: what maps is evicted, the rest dead-lettered",
			cdc.Event{Table: users, Op: cdc.Delete, Before: cdc.Row{"id": "1"}},
			[]string{"delete 1"}, nil, true},
		{"delete without the old row",
			cdc.Event{Table: users, Op: cdc.Delete},
			nil, nil, true},
		{"truncate flushes every namespace of the table",
			cdc.Event{Table: users, Op: cdc.Truncate},
			[]string{"flush"}, []string{"flush"}, false},
		{"a NULL column",
			cdc.Event{Table: users, Op: cdc.Create, After: cdc.Row{"id": "1", "email": "a@x"}},
			[]string{"delete 1"}, []string{"delete a@x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, recs, st, dead := newEngine(t, nil, byID, byEmail)
			if err := e.Apply(context.Background(), []cdc.Event{tt.ev}); err != nil {
				t.Fatal(err)
			}
			if got := recs["user"].Calls(); !slices.Equal(got, tt.user) {
				t.Errorf("user: %q, want %q", got, tt.user)
			}
			if got := recs["user_by_email"].Calls(); !slices.Equal(got, tt.email) {
				t.Errorf("user_by_email: %q, want %q", got, tt.email)
			}
			if (len(*dead) > 0) != tt.dead || st.Snapshot().Get(stats.CDCDeadLetter) != int64(len(*dead)) {
				t.Errorf("dead letters %v (counted %d), want some: %v", *dead, st.Snapshot().Get(stats.CDCDeadLetter), tt.dead)
			}
			for _, d := range *dead {
				if !errors.Is(d.Err, cdc.ErrMissingColumn) || d.Event == nil {
					t.Errorf("dead letter %+v: want an event and ErrMissingColumn", d)
				}
			}
			// Each change counts once: applied, or dead-lettered.
			if n := st.Snapshot().Get(stats.CDCApplied) + st.Snapshot().Get(stats.CDCDeadLetter); n != 1 {
				t.Errorf("CDCApplied + CDCDeadLetter = %d, want 1", n)
			}
		})
	}
}

func TestApply_Batch(t *testing.T) {
	t.Parallel()
	e, recs, st, _ := newEngine(t, func(o *cdc.Options) { o.BatchSize = 2 },
		cdc.Rule{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}},
		cdc.Rule{Table: "orders", Namespace: "order", Keys: []string{"{user_id}:{id}"}})
	var events []cdc.Event
	for _, id := range []string{"1", "2", "1", "3", "4"} { // 1 twice: evicted once
		events = append(events, cdc.Event{Table: users, Op: cdc.Update, After: cdc.Row{"id": id}})
	}
	events = append(events,
		cdc.Event{Table: cdc.Table{Name: "orders"}, Op: cdc.Create, After: cdc.Row{"user_id": "7", "id": "70"}},
		cdc.Event{Table: cdc.Table{Schema: "public", Name: "audit"}, Op: cdc.Create, After: cdc.Row{"id": "1"}}, // no rule
		cdc.Event{Table: users, Op: cdc.Update, After: cdc.Row{"id": "5"}, Commit: time.Now().Add(-time.Second)},
	)
	if err := e.Apply(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if got, want := recs["user"].Calls(), []string{"delete 1 2", "delete 3 4", "delete 5"}; !slices.Equal(got, want) {
		t.Errorf("user: %q, want %q", got, want)
	}
	if got, want := recs["order"].Calls(), []string{"delete 7:70"}; !slices.Equal(got, want) {
		t.Errorf("order: %q, want %q", got, want)
	}
	s := st.Snapshot()
	if s.Get(stats.CDCApplied) != 7 || s.Get(stats.CDCSkipped) != 1 {
		t.Errorf("applied %d, skipped %d; want 7 and 1", s.Get(stats.CDCApplied), s.Get(stats.CDCSkipped))
	}
	if n, sum := s.Get(stats.CDCLag), s.Duration(stats.CDCLag); n != 1 || sum < time.Second {
		t.Errorf("CDCLag: %d observations summing %v, want 1 of at least 1s", n, sum)
	}
}

// A batch whose evictions fail is not counted, and its dead letters wait
// for the batch to be applied: the source applies it again.
func TestApply_TargetFails(t *testing.T) {
	t.Parallel()
	e, recs, st, dead := newEngine(t, nil, cdc.Rule{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}})
	recs["user"].FailWith(func(string) error { return errors.New("L2 down") })
	events := []cdc.Event{
		{Table: users, Op: cdc.Create, After: cdc.Row{"id": "1"}},
		{Table: users, Op: cdc.Delete}, // dead letter
	}
	err := e.Apply(context.Background(), events)
	if err == nil || !strings.Contains(err.Error(), "L2 down") {
		t.Fatalf("Apply: %v, want the target's error", err)
	}
	if s := st.Snapshot(); s.Get(stats.CDCApplied) != 0 || len(*dead) != 0 {
		t.Fatalf("a failed batch counted %d changes and %d dead letters", s.Get(stats.CDCApplied), len(*dead))
	}
	recs["user"].FailWith(nil)
	if err := e.Apply(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if s := st.Snapshot(); s.Get(stats.CDCApplied) != 1 || s.Get(stats.CDCDeadLetter) != 1 || len(*dead) != 1 {
		t.Fatalf("applied again: %d changes applied, %d dead-lettered, %d dead letters; want 1, 1 and 1",
			s.Get(stats.CDCApplied), s.Get(stats.CDCDeadLetter), len(*dead))
	}
}

func TestNew_Errors(t *testing.T) {
	t.Parallel()
	target := map[string]cdc.Target{"user": cdctest.NewRecorder()}
	for _, tt := range []struct {
		name string
		opts *cdc.Options
		want string
	}{
		{"nil", nil, "nil Options"},
		{"no rules", &cdc.Options{Targets: target}, "no Rules"},
		{"no table", &cdc.Options{Rules: []cdc.Rule{{Namespace: "user", Keys: []string{"{id}"}}}, Targets: target}, "needs a Table"},
		{"maps nothing", &cdc.Options{Rules: []cdc.Rule{{Table: "t", Namespace: "user"}}, Targets: target}, "maps rows to nothing"},
		{"no target", &cdc.Options{Rules: []cdc.Rule{{Table: "t", Namespace: "other", Keys: []string{"{id}"}}}, Targets: target}, "no Target"},
		{"open brace", &cdc.Options{Rules: []cdc.Rule{{Table: "t", Namespace: "user", Keys: []string{"user:{id"}}}, Targets: target}, "not closed"},
		{"stray brace", &cdc.Options{Rules: []cdc.Rule{{Table: "t", Namespace: "user", Keys: []string{"id}"}}}, Targets: target}, "closes nothing"},
		{"empty reference", &cdc.Options{Rules: []cdc.Rule{{Table: "t", Namespace: "user", Tags: []string{"a{}b"}}}, Targets: target}, "bad column"},
		{"empty template", &cdc.Options{Rules: []cdc.Rule{{Table: "t", Namespace: "user", Keys: []string{""}}}, Targets: target}, "empty template"},
		{"negative batch", &cdc.Options{Rules: []cdc.Rule{{Table: "t", Namespace: "user", Keys: []string{"{id}"}}}, Targets: target, BatchSize: -1}, "BatchSize"},
	} {
		_, err := cdc.New(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "cdc: ") {
			t.Errorf("%s: %v, want an error starting \"cdc: \" that mentions %q", tt.name, err, tt.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	e, recs, _, _ := newEngine(t, nil, cdc.Rule{Table: "t", Namespace: "n",
		Keys:    []string{"{{literal}}:{a}", "{a}{b}", "x"},
		KeyFunc: func(r cdc.Row) ([]string, error) { return []string{"f:" + r["a"]}, nil },
		TagFunc: func(cdc.Row) ([]string, error) { return nil, errors.New("no tags today") },
	})
	if err := e.Apply(context.Background(), []cdc.Event{{Table: cdc.Table{Name: "t"}, Op: cdc.Create, After: cdc.Row{"a": "1", "b": "2"}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := recs["n"].Calls(), []string{"delete {literal}:1 12 x f:1"}; !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
	cols, err := cdc.Rule{Table: "t", Namespace: "n", Keys: []string{"{b}:{a}"}, Tags: []string{"t:{c}", "{a}"}}.Columns()
	if err != nil || !slices.Equal(cols, []string{"a", "b", "c"}) {
		t.Errorf("Columns = %v, %v; want [a b c]", cols, err)
	}
}
