package codec_test

import (
	"errors"
	"fmt"

	"github.com/tiercache/tiercache/codec"
)

func ExampleMsgpack() {
	type point struct {
		X, Y int
	}
	var c codec.Codec[point] = codec.Msgpack[point]{}

	b, err := c.Marshal(nil, point{X: 1, Y: 2})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes: %x\n", len(b), b)

	var p point
	if err := c.Unmarshal(b, &p); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", p)
	// Output:
	// 7 bytes: 82a15801a15902
	// {X:1 Y:2}
}

func ExampleMsgpack_Unmarshal_corrupt() {
	var n int
	err := codec.Msgpack[int]{}.Unmarshal([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, &n)
	fmt.Println(errors.Is(err, codec.ErrCorrupt))
	// Output:
	// true
}

func ExampleJSON() {
	type point struct {
		X int `json:"x"`
		Y int `json:"y"`
	}
	c := codec.JSON[point]{}

	// Marshal appends: here after a prefix already in the buffer.
	b, err := c.Marshal([]byte("value="), point{X: 1, Y: 2})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))

	var p point
	if err := c.Unmarshal(b[len("value="):], &p); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", p)
	// Output:
	// value={"x":1,"y":2}
	// {X:1 Y:2}
}

func ExampleBytes() {
	var c codec.Codec[[]byte] = codec.Bytes{}
	b, _ := c.Marshal(nil, []byte("raw"))
	var back []byte
	_ = c.Unmarshal(b, &back)
	fmt.Printf("%q %q\n", b, back)
	// Output:
	// "raw" "raw"
}

func ExampleString() {
	var c codec.Codec[string] = codec.String{}
	b, _ := c.Marshal(nil, "hello")
	var back string
	_ = c.Unmarshal(b, &back)
	fmt.Printf("%q %q\n", b, back)
	// Output:
	// "hello" "hello"
}

func ExampleS2() {
	var c codec.Compressor = codec.S2{}
	src := []byte("abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc")

	compressed := c.Compress(nil, src)
	fmt.Println(len(src), "->", len(compressed))

	back, err := c.Decompress(nil, compressed)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(back) == string(src))
	// Output:
	// 48 -> 8
	// true
}

func ExampleS2_maxDecodedLen() {
	compressed := codec.S2{}.Compress(nil, make([]byte, 1000))

	_, err := codec.S2{MaxDecodedLen: 100}.Decompress(nil, compressed)
	fmt.Println(errors.Is(err, codec.ErrTooLarge))
	// Output:
	// true
}
