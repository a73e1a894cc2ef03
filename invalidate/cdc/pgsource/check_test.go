package pgsource

import (
	"strings"
	"testing"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
)

// Test 6: Check warns about a rule whose templates read columns outside
// the primary key of a table whose replica identity is not FULL, and about
// nothing else; Run logs the same warnings.
func TestSource_Check(t *testing.T) {
	t.Parallel()
	pg := newPG(t, `CREATE TABLE members (id bigint PRIMARY KEY, company_id int);
CREATE TABLE accounts (id bigint PRIMARY KEY, company_id int);
ALTER TABLE accounts REPLICA IDENTITY FULL;`)
	engine := newEngine(t, cdctest.NewRecorder(), nil,
		cdc.Rule{Table: "public.members", Namespace: "member", Keys: []string{"{id}"}, Tags: []string{"company:{company_id}"}},
		cdc.Rule{Table: "public.members", Namespace: "member_by_id", Keys: []string{"m{id}"}}, // the key alone: fine
		cdc.Rule{Table: "public.accounts", Namespace: "account", Keys: []string{"{id}"}, Tags: []string{"company:{company_id}"}},
	)
	lg := &logs{}
	opts := pg.options(engine)
	opts.Logger = lg.logger()
	src, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := src.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings %q, want one, for rule public.members -> member", warnings)
	}
	for _, s := range []string{"rule public.members -> member ", "company_id", "REPLICA IDENTITY DEFAULT", "REPLICA IDENTITY FULL"} {
		if !strings.Contains(warnings[0], s) {
			t.Errorf("warning %q does not say %q", warnings[0], s)
		}
	}
	t.Logf("warning: %s", warnings[0])

	r := run(t, src)
	r.waitConnected(t)
	r.stop(t)
	if n := lg.count(warnings[0]); n != 1 {
		t.Errorf("Run logged the warning %d times, want once", n)
	}

	pg.exec("ALTER TABLE members REPLICA IDENTITY FULL")
	if warnings, err = src.Check(t.Context()); err != nil || len(warnings) > 0 {
		t.Errorf("with REPLICA IDENTITY FULL: Check = %q, %v; want none", warnings, err)
	}
}

// Check also warns about tables that do not exist, have no replica
// identity, or are not in the publication.
func TestSource_CheckTables(t *testing.T) {
	t.Parallel()
	pg := newPG(t, `CREATE TABLE nokey (id bigint, name text);
CREATE TABLE unpublished (id bigint PRIMARY KEY);
CREATE TABLE published (id bigint PRIMARY KEY);
CREATE PUBLICATION tiercache FOR TABLE published;`)
	engine := newEngine(t, cdctest.NewRecorder(), nil,
		cdc.Rule{Table: "public.nokey", Namespace: "a", Keys: []string{"{id}"}},
		cdc.Rule{Table: "public.unpublished", Namespace: "b", Keys: []string{"{id}"}},
		cdc.Rule{Table: "public.published", Namespace: "c", Keys: []string{"{id}"}},
		cdc.Rule{Table: "public.missing", Namespace: "d", Keys: []string{"{id}"}},
	)
	src, err := New(pg.options(engine))
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := src.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"rule public.nokey -> a: table public.nokey is not in publication",
		"rule public.nokey -> a: table public.nokey has no replica identity",
		"rule public.unpublished -> b: table public.unpublished is not in publication",
		"rule public.missing -> d: table public.missing does not exist",
	}
	if len(warnings) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(warnings, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.Contains(warnings[i], w) {
			t.Errorf("warning %d: %q, want it to say %q", i, warnings[i], w)
		}
	}
}
