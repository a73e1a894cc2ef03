package l2

import (
	"fmt"
	"strings"
)

// Ability is a set of the optional interfaces a [Store] implements, as its
// Abilities method declares them.
type Ability uint8

// The optional abilities of a Store, each an interface of this package.
const (
	// Namespaces: the Store is a [Namespacer].
	Namespaces Ability = 1 << iota
	// ConditionalWrites: the Store is a [Conditional].
	ConditionalWrites
	// Leases: the Store is a [Leaser] (which requires ConditionalWrites).
	Leases
	// Tags: the Store is a [Tagger].
	Tags
	// Prefixes: the Store is a [PrefixDeleter].
	Prefixes
	// Staging: the Store is a [Stager] (which requires Leases).
	Staging
	// LeaseReads: the Store is a [LeaseReader] (which requires Leases).
	LeaseReads

	// All is every ability this version of the package knows.
	All = Namespaces | ConditionalWrites | Leases | Tags | Prefixes | Staging | LeaseReads
)

var abilityNames = [...]struct {
	a    Ability
	name string // the interface
}{
	{Namespaces, "Namespacer"},
	{ConditionalWrites, "Conditional"},
	{Leases, "Leaser"},
	{Tags, "Tagger"},
	{Prefixes, "PrefixDeleter"},
	{Staging, "Stager"},
	{LeaseReads, "LeaseReader"},
}

// Has reports whether a includes every ability of b.
func (a Ability) Has(b Ability) bool { return a&b == b }

// String lists the interfaces of a, as "Conditional|Leaser", or "none".
func (a Ability) String() string {
	var names []string
	for _, n := range abilityNames {
		if a.Has(n.a) {
			names = append(names, n.name)
		}
	}
	if rest := a &^ All; rest != 0 {
		names = append(names, fmt.Sprintf("Ability(%#x)", uint8(rest)))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// implemented returns the abilities whose interfaces s implements.
func implemented(s Store) Ability {
	var a Ability
	if _, ok := s.(Namespacer); ok {
		a |= Namespaces
	}
	if _, ok := s.(Conditional); ok {
		a |= ConditionalWrites
	}
	if _, ok := s.(Leaser); ok {
		a |= Leases
	}
	if _, ok := s.(Tagger); ok {
		a |= Tags
	}
	if _, ok := s.(PrefixDeleter); ok {
		a |= Prefixes
	}
	if _, ok := s.(Stager); ok {
		a |= Staging
	}
	if _, ok := s.(LeaseReader); ok {
		a |= LeaseReads
	}
	return a
}

// Check returns the abilities s declares, after checking that s implements
// the interface of each. A Store that declares an ability it does not
// implement is almost always a wrapper that embeds another Store: it
// inherits the inner Store's Abilities method but none of its optional
// methods, and the tiered cache would otherwise lose tombstones, leases or
// tags without a word. Check then returns an error that says which
// interfaces are missing; the wrapper must implement them (forwarding to
// the inner Store) or declare less.
//
// Abilities that s implements but does not declare are not used: a
// wrapper may turn an ability off that way.
func Check(s Store) (Ability, error) {
	declared := s.Abilities()
	have := implemented(s)
	if missing := declared &^ have; missing != 0 {
		return 0, fmt.Errorf("l2: %T declares %v but does not implement it (a wrapper that embeds a Store inherits its Abilities, not its optional methods: implement them or declare less)", s, missing)
	}
	if declared.Has(Leases) && !declared.Has(ConditionalWrites) {
		return 0, fmt.Errorf("l2: %T declares Leaser without Conditional", s)
	}
	if declared.Has(Staging) && !declared.Has(Leases) {
		return 0, fmt.Errorf("l2: %T declares Stager without Leaser", s)
	}
	if declared.Has(LeaseReads) && !declared.Has(Leases) {
		return 0, fmt.Errorf("l2: %T declares LeaseReader without Leaser", s)
	}
	return declared & All, nil
}
