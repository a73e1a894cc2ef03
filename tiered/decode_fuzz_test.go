package tiered

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/tiercache/tiercache/codec"
	"github.com/tiercache/tiercache/tiered/internal/envelope"
)

// FuzzCacheDecode feeds arbitrary frames, read under an arbitrary key, to the
// cache's decoder (envelope, key binding, clamps, size cap, decompression,
// codec). It must never panic; every failure is foreign, too large or
// corrupt; and whatever decodes is bound to the key it was read under and
// gives no lifetime beyond the cache's own: an expiry within [0, now +
// TTL], a load time within LoadTimeout, an L1 TTL within [0, L1TTL].
func FuzzCacheDecode(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	c, err := New(&Options[string, string]{
		Name: "fuzz", Codec: codec.String{}, Compressor: codec.S2{}, CompressAbove: 8,
		MaxValueSize: 4096, Now: func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })

	seed := func(k string, h envelope.Header, payload []byte) {
		h.Key = c.keyHash(k)
		f.Add(k, envelope.Append(nil, h, payload))
	}
	ms := now.UnixMilli()
	seed("a", envelope.Header{Schema: c.schema, Created: ms, Expiry: ms + 60_000}, []byte("value"))
	seed("b", envelope.Header{Schema: c.schema, Created: ms, Expiry: 1<<63 - 1, Delta: time.Hour}, []byte("forever"))
	seed("c", envelope.Header{Schema: c.schema, Created: -1 << 63, Expiry: -1 << 63}, []byte("long ago"))
	seed("d", envelope.Header{Flags: envelope.FlagTombstone, Created: ms, Expiry: ms + 1000}, []byte("12345678"))
	seed("e", envelope.Header{Schema: c.schema, Flags: envelope.FlagNotFound, Created: ms, Expiry: ms + 1000}, nil)
	seed("f", envelope.Header{Schema: c.schema, Flags: envelope.FlagCompressed, Compressor: c.compressor, Created: ms, Expiry: ms + 1000},
		codec.S2{}.Compress(nil, bytes.Repeat([]byte("z"), 100)))
	seed("g", envelope.Header{Schema: c.schema, Flags: envelope.FlagCompressed, Compressor: c.compressor, Created: ms, Expiry: ms + 1000},
		codec.S2{}.Compress(nil, bytes.Repeat([]byte("z"), 10_000))) // over MaxValueSize once decompressed
	seed("h", envelope.Header{Schema: c.schema, Created: ms, Expiry: ms + 1000}, bytes.Repeat([]byte("y"), 5000))
	h := envelope.Header{Schema: c.schema, Created: ms, Expiry: ms + 1000, Key: c.keyHash("i")}
	f.Add("another key", envelope.Append(nil, h, []byte("copied"))) // bound to "i"
	f.Add("j", []byte{0xC7, 0x7C, 2, 0, 1, 2, 3})                   // another version

	f.Fuzz(func(t *testing.T, k string, frame []byte) {
		for _, fr := range [][]byte{frame, refinish(bytes.Clone(frame))} {
			e, _, err := c.decode(k, fr)
			if err != nil {
				if !errors.Is(err, errForeign) && !errors.Is(err, errTooLarge) && !errors.Is(err, envelope.ErrCorrupt) {
					t.Fatalf("decode: %v is neither foreign, too large nor corrupt", err)
				}
				continue
			}
			hdr, _, derr := envelope.Decode(fr)
			if derr != nil || hdr.Key != c.keyHash(k) {
				t.Fatalf("decoded a frame bound to another key (%v)", derr)
			}
			if e.expiry < 0 || e.expiry > ms+c.maxLife.Milliseconds() {
				t.Fatalf("expiry %d outside [0, now+%v]", e.expiry, c.maxLife)
			}
			if e.delta < 0 || e.delta > c.cfg.LoadTimeout {
				t.Fatalf("delta %v outside [0, LoadTimeout]", e.delta)
			}
			if ttl := c.l1TTL(e, now); ttl < 0 || ttl > c.cfg.L1TTL {
				t.Fatalf("L1 TTL %v outside [0, L1TTL]", ttl)
			}
			if !e.tombstone && !e.notFound && len(e.value) > c.cfg.MaxValueSize {
				t.Fatalf("decoded a value of %d bytes, over MaxValueSize", len(e.value))
			}
		}
	})
}

// refinish gives frame, if it is long enough, a valid checksum, so that
// mutated inputs reach the checks after it.
func refinish(frame []byte) []byte {
	if len(frame) < envelope.HeaderSize {
		return frame
	}
	h, payload, err := envelope.Decode(frame)
	if err == nil {
		return envelope.Append(nil, h, payload)
	}
	// Rebuild the header from its bytes, whatever they say.
	return envelope.Append(nil, envelope.Header{
		Flags:      envelope.Flags(frame[3]) & (envelope.FlagNotFound | envelope.FlagCompressed | envelope.FlagTombstone),
		Compressor: frame[4],
		Schema:     binary.BigEndian.Uint32(frame[5:9]),
		Created:    int64(binary.BigEndian.Uint64(frame[9:17])),
		Expiry:     int64(binary.BigEndian.Uint64(frame[17:25])),
		Delta:      time.Duration(binary.BigEndian.Uint32(frame[25:29])) * time.Microsecond,
		Key:        binary.BigEndian.Uint32(frame[29:33]),
	}, frame[envelope.HeaderSize:])
}
