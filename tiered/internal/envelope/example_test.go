package envelope_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/tiered/internal/envelope"
)

func Example() {
	h := envelope.Header{
		Created: 1_700_000_000_000,
		Expiry:  1_700_000_060_000,
		Delta:   2500 * time.Microsecond,
	}
	frame := envelope.Append(nil, h, []byte("value"))
	fmt.Println(len(frame), "bytes")

	got, payload, err := envelope.Decode(frame)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Expiry-got.Created, got.Delta, string(payload))
	// Output:
	// 42 bytes
	// 60000 2.5ms value
}

func ExampleBegin() {
	// Encode the payload straight into the frame, after the header.
	frame := envelope.Begin(nil)
	frame = append(frame, `{"id":42}`...) // e.g. codec.Marshal(frame, v)
	envelope.Finish(frame, envelope.Header{Created: 1, Expiry: 2})

	_, payload, err := envelope.Decode(frame)
	fmt.Println(string(payload), err)
	// Output:
	// {"id":42} <nil>
}

func ExampleDecode_corrupt() {
	frame := envelope.Append(nil, envelope.Header{Created: 1, Expiry: 2}, []byte("value"))

	// A value cut short, as by a partial write.
	_, _, err := envelope.Decode(frame[:len(frame)-1])
	fmt.Println(errors.Is(err, envelope.ErrCorrupt), err)

	// A value written by something else.
	_, _, err = envelope.Decode([]byte("a plain string stored under our key"))
	fmt.Println(errors.Is(err, envelope.ErrCorrupt), err)
	// Output:
	// true envelope: corrupt value: checksum mismatch
	// true envelope: corrupt value: foreign: bad magic
}
