package cdc

import (
	"fmt"
	"slices"
)

// Rule maps the rows of one table to the keys and tags of one cache
// namespace. A table may have several rules (one per namespace its rows
// are cached in); a namespace may take rows of several tables.
type Rule struct {
	// Table is the table, as "schema.name" ("public.users"), or "name" for
	// a source without schemas. Required.
	Table string
	// Namespace is the Name of the caches that hold the rows. Required.
	Namespace string
	// Keys are templates of the keys a row is cached under, in exactly the
	// form the namespace's caches' Options.Key gives: "{id}" for a cache
	// keyed by the id column (tiered writes an integer key 42 as "42", and
	// a Row holds integers in the same decimal form), "{org_id}:{id}" for
	// a composite key whose Options.Key joins the parts with ':'. A
	// template refers to columns as {name}; "{{" and "}}" are literal
	// braces.
	Keys []string
	// KeyFunc, when set, returns more keys of a row, for mappings that
	// templates cannot express. It must be fast and must not keep row.
	KeyFunc func(row Row) ([]string, error)
	// Tags are templates of the tags a row's cached values carry
	// ("company:{company_id}"), as Options.Tags or SetTagged gave them.
	Tags []string
	// TagFunc, when set, returns more tags of a row, like KeyFunc.
	TagFunc func(row Row) ([]string, error)
}

// rule is a compiled Rule.
type rule struct {
	Rule
	keys, tags []template
}

func compileRule(r Rule) (rule, error) {
	c := rule{Rule: r}
	if r.Table == "" || r.Namespace == "" {
		return c, fmt.Errorf("cdc: a rule needs a Table and a Namespace, got %q and %q", r.Table, r.Namespace)
	}
	if len(r.Keys) == 0 && r.KeyFunc == nil && len(r.Tags) == 0 && r.TagFunc == nil {
		return c, fmt.Errorf("cdc: rule for %s -> %s maps rows to nothing: give Keys, KeyFunc, Tags or TagFunc", r.Table, r.Namespace)
	}
	for _, src := range r.Keys {
		t, err := compile(src)
		if err != nil {
			return c, fmt.Errorf("cdc: rule for %s -> %s: key %w", r.Table, r.Namespace, err)
		}
		c.keys = append(c.keys, t)
	}
	for _, src := range r.Tags {
		t, err := compile(src)
		if err != nil {
			return c, fmt.Errorf("cdc: rule for %s -> %s: tag %w", r.Table, r.Namespace, err)
		}
		c.tags = append(c.tags, t)
	}
	return c, nil
}

// Columns returns the columns r's templates read, sorted, without
// duplicates (not those its functions read). A source checks them against
// what the database sends for old rows: a column outside the primary key
// needs PostgreSQL's REPLICA IDENTITY FULL for updates and deletes to evict
// what the old row mapped to.
func (r Rule) Columns() ([]string, error) {
	c, err := compileRule(r)
	if err != nil {
		return nil, err
	}
	var cols []string
	for _, t := range c.keys {
		cols = t.columns(cols)
	}
	for _, t := range c.tags {
		cols = t.columns(cols)
	}
	slices.Sort(cols)
	return slices.Compact(cols), nil
}

// apply adds the keys and tags row maps to under r to w. It returns the
// first error (the others' keys and tags are added all the same).
func (r *rule) apply(row Row, w *work) error {
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	for i := range r.keys {
		k, err := r.keys[i].render(row)
		if err != nil {
			note(err)
			continue
		}
		w.key(k)
	}
	if r.KeyFunc != nil {
		ks, err := r.KeyFunc(row)
		if err != nil {
			note(fmt.Errorf("cdc: KeyFunc of %s -> %s: %w", r.Table, r.Namespace, err))
		}
		for _, k := range ks {
			w.key(k)
		}
	}
	for i := range r.tags {
		t, err := r.tags[i].render(row)
		if err != nil {
			note(err)
			continue
		}
		w.tag(t)
	}
	if r.TagFunc != nil {
		ts, err := r.TagFunc(row)
		if err != nil {
			note(fmt.Errorf("cdc: TagFunc of %s -> %s: %w", r.Table, r.Namespace, err))
		}
		for _, t := range ts {
			w.tag(t)
		}
	}
	return first
}
