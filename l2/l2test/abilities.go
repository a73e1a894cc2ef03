package l2test

import (
	"testing"

	"github.com/tiercache/tiercache/l2"
)

// testAbilities checks what the store declares with Abilities: l2.Check
// accepts it and returns it, each declared interface is implemented, and
// each view has the abilities of its store. An ability the store does not
// declare is skipped, so that a store may offer less than l2.All.
func testAbilities(t *testing.T, h Harness) {
	s := h.New(t)
	declared := s.Abilities()
	got, err := l2.Check(s)
	if err != nil {
		t.Fatalf("l2.Check: %v", err)
	}
	if got != declared&l2.All {
		t.Errorf("l2.Check = %v, want what the store declares, %v", got, declared&l2.All)
	}
	t.Logf("%T declares %v", s, got)

	t.Run("Namespacer", func(t *testing.T) { wantAbility[l2.Namespacer](t, s) })
	t.Run("Conditional", func(t *testing.T) { wantAbility[l2.Conditional](t, s) })
	t.Run("Leaser", func(t *testing.T) {
		wantAbility[l2.Leaser](t, s)
		if !declared.Has(l2.ConditionalWrites) {
			t.Errorf("%T declares %v without %v", s, l2.Leases, l2.ConditionalWrites)
		}
	})
	t.Run("Tagger", func(t *testing.T) { wantAbility[l2.Tagger](t, s) })
	t.Run("PrefixDeleter", func(t *testing.T) { wantAbility[l2.PrefixDeleter](t, s) })
	t.Run("Stager", func(t *testing.T) {
		wantAbility[l2.Stager](t, s)
		if !declared.Has(l2.Leases) {
			t.Errorf("%T declares %v without %v", s, l2.Staging, l2.Leases)
		}
	})

	t.Run("Views", func(t *testing.T) {
		ns, ok := optional[l2.Namespacer](t, s)
		if !ok {
			t.Skipf("%T does not declare %v", s, l2.Namespaces)
		}
		nested := ns.Namespace("a")
		for _, v := range []l2.Store{ns.Namespace("v1"), ns.Namespace(""), as[l2.Namespacer](t, nested).Namespace("b")} {
			a, err := l2.Check(v)
			if err != nil {
				t.Errorf("l2.Check of a view: %v", err)
				continue
			}
			if a != got {
				t.Errorf("a view (%T) declares %v, its store %v", v, a, got)
			}
		}
	})
}

// wantAbility checks that s implements I when it declares it, and skips t
// otherwise.
func wantAbility[I any](t *testing.T, s l2.Store) {
	t.Helper()
	if _, ok := optional[I](t, s); !ok {
		t.Skipf("%T does not declare %v", s, abilityOf[I]())
	}
}
