package codec_test

import (
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/tiercache/tiercache/codec"
)

// Each benchmark runs beside its baseline, the library called directly.

func BenchmarkMsgpack_Unmarshal(b *testing.B) {
	data, err := msgpack.Marshal(sampleUser())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		c := codec.Msgpack[user]{}
		for b.Loop() {
			var u user
			if err := c.Unmarshal(data, &u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var u user
			if err := msgpack.Unmarshal(data, &u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec-parallel", func(b *testing.B) {
		b.ReportAllocs()
		c := codec.Msgpack[user]{}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var u user
				if err := c.Unmarshal(data, &u); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("baseline-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var u user
				if err := msgpack.Unmarshal(data, &u); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkMsgpack_Marshal(b *testing.B) {
	u := sampleUser()
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		c := codec.Msgpack[user]{}
		buf := make([]byte, 0, 512)
		for b.Loop() {
			var err error
			if buf, err = c.Marshal(buf[:0], u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec-nil-dst", func(b *testing.B) {
		b.ReportAllocs()
		c := codec.Msgpack[user]{}
		for b.Loop() {
			if _, err := c.Marshal(nil, u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := msgpack.Marshal(u); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkJSON_Unmarshal(b *testing.B) {
	data, err := codec.JSON[user]{}.Marshal(nil, sampleUser())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	c := codec.JSON[user]{}
	for b.Loop() {
		var u user
		if err := c.Unmarshal(data, &u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkS2_Compress(b *testing.B) {
	src := compressible(16 << 10)
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		var c codec.S2
		buf := make([]byte, 0, s2.MaxEncodedLen(len(src)))
		for b.Loop() {
			buf = c.Compress(buf[:0], src)
		}
	})
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		buf := make([]byte, s2.MaxEncodedLen(len(src)))
		for b.Loop() {
			s2.Encode(buf, src)
		}
	})
}

func BenchmarkS2_Decompress(b *testing.B) {
	src := compressible(16 << 10)
	enc := s2.Encode(nil, src)
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		var c codec.S2
		buf := make([]byte, 0, len(src))
		for b.Loop() {
			var err error
			if buf, err = c.Decompress(buf[:0], enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		buf := make([]byte, len(src))
		for b.Loop() {
			if _, err := s2.Decode(buf, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
