package envelope_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tiercache/tiercache/tiered/internal/envelope"
)

var benchSizes = []int{0, 64, 1 << 10, 16 << 10}

func BenchmarkDecode(b *testing.B) {
	for _, n := range benchSizes {
		frame := envelope.Append(nil, envelope.Header{Created: 1, Expiry: 2, Delta: time.Millisecond}, make([]byte, n))
		b.Run(fmt.Sprintf("payload=%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, _, err := envelope.Decode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, n := range benchSizes {
		payload := make([]byte, n)
		buf := make([]byte, 0, envelope.HeaderSize+n)
		h := envelope.Header{Created: 1, Expiry: 2, Delta: time.Millisecond}
		b.Run(fmt.Sprintf("payload=%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(envelope.HeaderSize + n))
			for b.Loop() {
				buf = envelope.Append(buf[:0], h, payload)
			}
		})
	}
}
