package codec

import (
	"encoding/json"
	"fmt"
)

// JSON is a [Codec] over encoding/json. It is slower and larger than
// [Msgpack] but readable in redis-cli. The zero value is ready to use and
// safe for concurrent use.
//
// Unmarshal wraps every failure, including a panic in a type's own
// UnmarshalJSON method, in [ErrCorrupt]; the encoding/json error stays
// reachable with errors.As. Like json.Unmarshal, it decodes into the
// existing *v.
type JSON[V any] struct{}

var _ Codec[struct{}] = JSON[struct{}]{}

// Marshal appends the JSON encoding of v to dst.
func (JSON[V]) Marshal(dst []byte, v V) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("codec: json marshal: %w", err)
	}
	if dst == nil {
		return b, nil
	}
	return append(dst, b...), nil
}

// Unmarshal decodes the JSON value in data into *v. It never retains data.
func (JSON[V]) Unmarshal(data []byte, v *V) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: json: panic: %v", ErrCorrupt, r)
		}
	}()
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: json: %w", ErrCorrupt, err)
	}
	return nil
}
