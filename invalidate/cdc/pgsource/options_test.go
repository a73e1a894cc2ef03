package pgsource

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
)

func TestNew_Options(t *testing.T) {
	t.Parallel()
	engine := newEngine(t, cdctest.NewRecorder(), nil,
		cdc.Rule{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}},
		cdc.Rule{Table: "public.users", Namespace: "user_by_email", Keys: []string{"{email}"}},
		cdc.Rule{Table: "shop.orders", Namespace: "order", Keys: []string{"{id}"}},
	)
	const dsn = "postgres://cdc@127.0.0.1:5432/app?sslmode=disable&replication=database"
	for _, tc := range []struct {
		name string
		opts *Options
		want string // a part of the error; "" for none
	}{
		{"nil", nil, "nil Options"},
		{"no engine", &Options{DSN: dsn}, "Engine is required"},
		{"no DSN", &Options{Engine: engine}, "DSN is required"},
		{"bad DSN", &Options{DSN: "postgres://%zz", Engine: engine}, "Options.DSN"},
		{"bad slot name", &Options{DSN: dsn, Engine: engine, Slot: "Tier-Cache"}, "slot name"},
		{"negative MaxBatch", &Options{DSN: dsn, Engine: engine, MaxBatch: -1}, "MaxBatch"},
		{"negative StatusInterval", &Options{DSN: dsn, Engine: engine, StatusInterval: -1}, "StatusInterval"},
		{"negative RetryBackoff", &Options{DSN: dsn, Engine: engine, RetryBackoff: -1}, "RetryBackoff"},
		{"valid", &Options{DSN: dsn, Engine: engine}, ""},
	} {
		_, err := New(tc.opts)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: New = %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "pgsource: ")):
			t.Errorf("%s: New = %v, want an error about %s", tc.name, err, tc.want)
		}
	}

	opts := &Options{DSN: dsn, Engine: engine}
	cfg, err := newConfig(opts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Slot != DefaultSlot || cfg.Publication != DefaultPublication || cfg.MaxBatch != DefaultMaxBatch ||
		cfg.StatusInterval != DefaultStatusInterval || cfg.RetryBackoff != DefaultRetryBackoff || cfg.Logger == nil {
		t.Errorf("defaults not applied: %+v", cfg.Options)
	}
	if want := []string{"public.users", "shop.orders"}; !reflect.DeepEqual(cfg.tables, want) {
		t.Errorf("tables %q, want the rules' %q", cfg.tables, want)
	}
	if cfg.repl.RuntimeParams["replication"] != "database" {
		t.Errorf("replication connections: replication=%q, want database", cfg.repl.RuntimeParams["replication"])
	}
	if _, ok := cfg.sql.RuntimeParams["replication"]; ok {
		t.Error("ordinary connections ask for replication")
	}
	if !reflect.DeepEqual(*opts, Options{DSN: dsn, Engine: engine}) {
		t.Errorf("New changed the caller's Options: %+v", opts)
	}
}
