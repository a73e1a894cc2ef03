package codec

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Msgpack is a [Codec] over MessagePack ([github.com/vmihailenco/msgpack/v5]
// with its default options: structs encode as maps keyed by field name, the
// "msgpack" struct tag applies). It is the tiered cache's default codec.
// The zero value is ready to use and safe for concurrent use.
//
// Marshal writes into dst directly, without an intermediate buffer; its
// output is byte for byte that of msgpack.Marshal. Unmarshal accepts exactly
// one MessagePack value and rejects, with an error wrapping [ErrCorrupt]:
//
//   - malformed or truncated input, and trailing bytes after the value;
//   - a header that declares more elements or bytes than the input holds,
//     where the library would allocate for the declared size before
//     reading (arrays and maps of 16 elements or more, 32-bit strings and
//     binaries);
//   - nesting deeper than 10000 levels (the library recurses per level);
//   - any panic in the library or in a type's own decoding method.
//
// Like msgpack.Unmarshal, Unmarshal decodes into the existing *v: fields
// absent from data keep their values, so decode into a fresh V. After an
// error *v may be partly written.
type Msgpack[V any] struct{}

var _ Codec[struct{}] = Msgpack[struct{}]{}

// minMarshalRoom is the spare capacity Marshal reserves in dst before
// encoding, like bytes.Buffer's first allocation.
const minMarshalRoom = 64

// encoder is a pooled msgpack encoder bound to its own appendWriter.
type encoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

// decoder is a pooled msgpack decoder bound for life to its own
// bytes.Reader, which saves the reader allocation msgpack.Unmarshal makes on
// every call. A decoder that failed is not pooled again.
type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

// encoders and decoders are pure performance caches, as msgpack keeps its
// own: an entry holds no value or option between calls, so nothing a caller
// can observe depends on them. They are the only package-level variables that
// are not immutable.
var (
	encoders = sync.Pool{New: func() any {
		e := new(encoder)
		e.enc = msgpack.NewEncoder(&e.w)
		return e
	}}
	decoders = sync.Pool{New: func() any {
		d := new(decoder)
		d.dec = msgpack.NewDecoder(&d.r)
		d.dec.UsePreallocateValues(true)
		return d
	}}
)

// Marshal appends the MessagePack encoding of v to dst. On error it returns
// dst unchanged. A panic in a type's own encoding method propagates.
func (Msgpack[V]) Marshal(dst []byte, v V) ([]byte, error) {
	e := encoders.Get().(*encoder)
	// The encoder appends a few bytes at a time: start with room for a
	// small value rather than growing from nothing, as bytes.Buffer does.
	e.w.b = slices.Grow(dst, minMarshalRoom)
	err := e.enc.Encode(v)
	out := e.w.b
	e.w.b = nil // do not keep the caller's buffer alive from the pool
	encoders.Put(e)
	if err != nil {
		return dst, fmt.Errorf("codec: msgpack marshal: %w", err)
	}
	return out, nil
}

// Unmarshal decodes the single MessagePack value in data into *v. It never
// retains data.
func (Msgpack[V]) Unmarshal(data []byte, v *V) (err error) {
	if err := checkMsgpack(data); err != nil {
		return err
	}
	d := decoders.Get().(*decoder)
	defer func() {
		// A decoder that panicked is in an unknown state: it is dropped,
		// not returned to the pool.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: msgpack: panic: %v", ErrCorrupt, r)
		}
	}()
	// The decoder reads d.r, set when it was made; it keeps no other state
	// between successful calls, so it needs no Reset.
	d.r.Reset(data)
	if err := d.dec.Decode(v); err != nil {
		// Dropped too: a failed DecodeRaw leaves a recording buffer set.
		if strings.HasPrefix(err.Error(), "msgpack:") {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return fmt.Errorf("%w: msgpack: %w", ErrCorrupt, err) // io.EOF and the like
	}
	if n := d.r.Len(); n != 0 {
		// The decoder reads d.r directly, never ahead of the value.
		return fmt.Errorf("%w: msgpack: %d trailing bytes", ErrCorrupt, n)
	}
	d.r.Reset(nil) // do not keep data alive from the pool
	decoders.Put(d)
	return nil
}
