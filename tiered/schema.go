package tiered

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
)

// schemaOf returns the schema fingerprint of a cache's values: of its
// codec's type and of SchemaVersion when set, of V's type otherwise.
func schemaOf[K comparable, V any](cfg *Options[K, V]) uint32 {
	schema := "version:" + cfg.SchemaVersion
	if cfg.SchemaVersion == "" {
		schema = "type:" + describeType(reflect.TypeFor[V]())
	}
	return fingerprint(typeName(cfg.Codec), schema)
}

// compressorID returns the byte that names a compressor's type in the
// frames it compressed (never 0, which means none).
func compressorID(c any) uint8 {
	if c == nil {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(typeName(c)))
	return uint8(h.Sum32()%255) + 1
}

// typeName returns the package path and name of v's type without its type
// arguments ("github.com/tiercache/tiercache/codec.Msgpack"), so that the
// codec of V names the codec and not V.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer && t.Name() == "" {
		t = t.Elem()
	}
	name, _, _ := strings.Cut(t.Name(), "[")
	return t.PkgPath() + "." + name
}

// describeType returns a description of what t encodes to with a codec
// that follows struct fields: kinds, struct fields with their names, types
// and tags, element and key types, recursively. Type names do not count
// (renaming a type changes nothing a codec writes); a recursive type is
// described up to its first repetition.
func describeType(t reflect.Type) string {
	var b strings.Builder
	describe(&b, t, map[reflect.Type]bool{})
	return b.String()
}

func describe(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	if seen[t] {
		b.WriteString("recursive")
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		seen[t] = true
		defer delete(seen, t)
		b.WriteString("struct{")
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			fmt.Fprintf(b, "%s %q ", f.Name, f.Tag)
			if f.Anonymous {
				b.WriteString("embedded ")
			}
			describe(b, f.Type, seen)
			b.WriteString(";")
		}
		b.WriteString("}")
	case reflect.Pointer:
		seen[t] = true
		defer delete(seen, t)
		b.WriteString("*")
		describe(b, t.Elem(), seen)
	case reflect.Slice:
		b.WriteString("[]")
		describe(b, t.Elem(), seen)
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		describe(b, t.Elem(), seen)
	case reflect.Map:
		b.WriteString("map[")
		describe(b, t.Key(), seen)
		b.WriteString("]")
		describe(b, t.Elem(), seen)
	default:
		b.WriteString(t.Kind().String())
	}
}
