package tiered

import (
	"reflect"
	"strconv"
	"unsafe"
)

// defaultKey returns the key function for K's kind: the string itself for
// string kinds, the decimal form for integer kinds. It reads the key through
// unsafe, which is sound because the kind fixes K's memory layout, and lets
// named types (type UserID int64) work without reflection per call.
func defaultKey[K comparable]() (func(K) string, bool) {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.String:
		return func(k K) string { return *(*string)(unsafe.Pointer(&k)) }, true
	case reflect.Int:
		return func(k K) string { return strconv.FormatInt(int64(*(*int)(unsafe.Pointer(&k))), 10) }, true
	case reflect.Int8:
		return func(k K) string { return strconv.FormatInt(int64(*(*int8)(unsafe.Pointer(&k))), 10) }, true
	case reflect.Int16:
		return func(k K) string { return strconv.FormatInt(int64(*(*int16)(unsafe.Pointer(&k))), 10) }, true
	case reflect.Int32:
		return func(k K) string { return strconv.FormatInt(int64(*(*int32)(unsafe.Pointer(&k))), 10) }, true
	case reflect.Int64:
		return func(k K) string { return strconv.FormatInt(*(*int64)(unsafe.Pointer(&k)), 10) }, true
	case reflect.Uint:
		return func(k K) string { return strconv.FormatUint(uint64(*(*uint)(unsafe.Pointer(&k))), 10) }, true
	case reflect.Uint8:
		return func(k K) string { return strconv.FormatUint(uint64(*(*uint8)(unsafe.Pointer(&k))), 10) }, true
	case reflect.Uint16:
		return func(k K) string { return strconv.FormatUint(uint64(*(*uint16)(unsafe.Pointer(&k))), 10) }, true
	case reflect.Uint32:
		return func(k K) string { return strconv.FormatUint(uint64(*(*uint32)(unsafe.Pointer(&k))), 10) }, true
	case reflect.Uint64:
		return func(k K) string { return strconv.FormatUint(*(*uint64)(unsafe.Pointer(&k)), 10) }, true
	}
	return nil, false
}

// defaultParseKey returns the inverse of defaultKey for K's kind: the
// string itself, or the parsed decimal form of an integer kind.
func defaultParseKey[K comparable]() (func(string) (K, error), bool) {
	var zero K
	kind := reflect.TypeFor[K]().Kind()
	set := func(p unsafe.Pointer, s string) error {
		switch kind {
		case reflect.String:
			*(*string)(p) = s
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n, err := strconv.ParseInt(s, 10, int(reflect.TypeFor[K]().Size())*8)
			if err != nil {
				return err
			}
			reflect.NewAt(reflect.TypeFor[K](), p).Elem().SetInt(n)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			n, err := strconv.ParseUint(s, 10, int(reflect.TypeFor[K]().Size())*8)
			if err != nil {
				return err
			}
			reflect.NewAt(reflect.TypeFor[K](), p).Elem().SetUint(n)
		}
		return nil
	}
	if _, ok := defaultKey[K](); !ok {
		return nil, false
	}
	return func(s string) (K, error) {
		k := zero
		err := set(unsafe.Pointer(&k), s)
		return k, err
	}, true
}
