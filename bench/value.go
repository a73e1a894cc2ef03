package bench

import (
	"strconv"
	"strings"
)

// Value is the one value type every library caches: eight fields, a slice
// and a nested struct, about 150 bytes in msgpack.
type Value struct {
	ID      int64
	Version int64
	Name    string
	Email   string
	Score   float64
	Active  bool
	Tags    []string
	Address Address
}

// Address is Value's nested struct.
type Address struct {
	Street  string
	City    string
	Zip     string
	Country string
}

// NewValue returns the value of id at version: the source of truth that
// the loaders read and the writers write.
func NewValue(id, version int64) Value {
	s := strconv.FormatInt(id, 10)
	return Value{
		ID:      id,
		Version: version,
		Name:    "user " + s,
		Email:   "user" + s + "@example.com",
		Score:   float64(id%1000) / 7,
		Active:  id%3 != 0,
		Tags:    []string{"tag-a", "tag-" + strconv.FormatInt(id%17, 10), "tag-c"},
		Address: Address{Street: s + " Main Street", City: "Springfield", Zip: "4" + s, Country: "NZ"},
	}
}

// Key returns the cache key of id.
func Key(id int64) string { return "v:" + strconv.FormatInt(id, 10) }

// ID returns the id in key, which Key made; -1 for any other key.
func ID(key string) int64 {
	s, ok := strings.CutPrefix(key, "v:")
	if !ok {
		return -1
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return id
}
