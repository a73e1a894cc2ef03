// Package envelope frames every value the tiered cache stores in the remote
// tier: a fixed 28-byte [Header] followed by the encoded (and possibly
// compressed) payload.
//
// # Layout
//
// All integers are big-endian.
//
//	[0:2]   magic 0xC7 0x7C
//	[2]     version (1)
//	[3]     flags: FlagNotFound (a cached "absent" answer, empty payload),
//	        FlagCompressed (the payload is compressed); other bits reserved
//	[4:12]  created: when the value was loaded, unix milliseconds (int64)
//	[12:20] expiry: logical expiry, unix milliseconds (int64)
//	[20:24] delta: how long the load took, microseconds (uint32, clamped)
//	[24:28] CRC-32C (Castagnoli) of bytes [0:24] followed by the payload
//	[28:]   payload
//
// # Why
//
// The magic and the version let a reader tell its own values from anything
// else under the same key and let the format change later: a value from a
// newer writer is refused, not misread. Created and expiry make expiry a
// property of the value rather than of the remote TTL, so every reader
// agrees on freshness and can refresh a value early; delta, the load time,
// lets it refresh early in proportion to how long a reload takes.
// FlagNotFound caches the answer "this key does not exist" so that misses
// are not reloaded on every request.
//
// The checksum covers the header and the payload. A foreign value, a
// truncated or partially written one, or one damaged in transit must decode
// to an error rather than to a wrong value: [Decode] then returns an error
// wrapping [ErrCorrupt], and the cache treats the key as a miss, reloads it
// and overwrites the bad value.
//
// # Use
//
// Build a frame in place, encoding the payload straight after the header:
//
//	frame := envelope.Begin(buf[:0])
//	frame, err = codec.Marshal(frame, v)
//	envelope.Finish(frame, envelope.Header{Created: now, Expiry: exp, Delta: took})
//
// and read one back without copying or allocating:
//
//	h, payload, err := envelope.Decode(frame)
//	if err != nil { /* errors.Is(err, envelope.ErrCorrupt): treat as a miss */ }
package envelope
