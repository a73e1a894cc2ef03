package cdc

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMissingColumn is wrapped by the error of a template (or a rule) that
// needs a column the row does not have: NULL, or not sent by the source
// (with PostgreSQL's REPLICA IDENTITY DEFAULT, the old row of an update or
// a delete holds only the primary key).
var ErrMissingColumn = errors.New("cdc: missing column")

// template is a compiled key or tag template: literal text and {column}
// references, "{{" and "}}" standing for literal braces.
type template struct {
	src   string
	parts []part
	size  int // the literal bytes, a hint for the rendered length
}

// part is a literal (col empty) or a column reference.
type part struct {
	lit, col string
}

// compile parses src.
func compile(src string) (template, error) {
	t := template{src: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			t.size += lit.Len()
			lit.Reset()
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '{' && i+1 < len(src) && src[i+1] == '{', c == '}' && i+1 < len(src) && src[i+1] == '}':
			lit.WriteByte(c)
			i++
		case c == '{':
			end := strings.IndexByte(src[i+1:], '}')
			if end < 0 {
				return t, fmt.Errorf("cdc: template %q: '{' at %d is not closed", src, i)
			}
			col := src[i+1 : i+1+end]
			if col == "" || strings.ContainsAny(col, "{") {
				return t, fmt.Errorf("cdc: template %q: bad column reference at %d", src, i)
			}
			flush()
			t.parts = append(t.parts, part{col: col})
			i += end + 1
		case c == '}':
			return t, fmt.Errorf("cdc: template %q: '}' at %d closes nothing (write \"}}\" for a brace)", src, i)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	if len(t.parts) == 0 {
		return t, fmt.Errorf("cdc: empty template")
	}
	return t, nil
}

// render returns the template filled with row's columns.
func (t *template) render(row Row) (string, error) {
	if len(t.parts) == 1 && t.parts[0].col != "" { // "{id}": no copy
		v, ok := row[t.parts[0].col]
		if !ok {
			return "", fmt.Errorf("%w %q (template %q)", ErrMissingColumn, t.parts[0].col, t.src)
		}
		return v, nil
	}
	var b strings.Builder
	b.Grow(t.size + 16)
	for _, p := range t.parts {
		if p.col == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := row[p.col]
		if !ok {
			return "", fmt.Errorf("%w %q (template %q)", ErrMissingColumn, p.col, t.src)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// columns appends the columns t refers to to cols.
func (t *template) columns(cols []string) []string {
	for _, p := range t.parts {
		if p.col != "" {
			cols = append(cols, p.col)
		}
	}
	return cols
}
