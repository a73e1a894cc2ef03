// Package envelope frames every value the tiered cache stores in the remote
// tier: a fixed 37-byte [Header] followed by the encoded (and possibly
// compressed) payload.
//
// # Layout
//
// All integers are big-endian.
//
//	[0:2]   magic 0xC7 0x7C
//	[2]     version (3)
//	[3]     flags: FlagNotFound (a cached "absent" answer, empty payload),
//	        FlagCompressed (the payload is compressed), FlagTombstone (a
//	        deleted key), FlagQueued (written behind: queued for the
//	        source); other bits reserved
//	[4]     compressor: which compressor made a compressed payload (0: none)
//	[5:9]   schema: fingerprint of the codec and the value's schema (uint32)
//	[9:17]  created: when the value was loaded, unix milliseconds (int64)
//	[17:25] expiry: logical expiry, unix milliseconds (int64)
//	[25:29] delta: how long the load took, microseconds (uint32, clamped)
//	[29:33] key: a hash of the namespace and key the frame was written
//	        under (uint32), computed by the writer
//	[33:37] CRC-32C (Castagnoli) of bytes [0:33] followed by the payload
//	[37:]   payload
//
// # Why
//
// The magic and the version let a reader tell its own values from anything
// else under the same key and let the format change later: a value from
// another release is left alone ([ErrOtherVersion]), not misread. The
// compressor and the schema fingerprint say what made the payload: a reader
// whose codec, value type or compressor differs (two caches that share a
// name by mistake, or two versions of a service during a rolling deploy)
// treats the value as one it cannot read instead of decoding garbage. Created and expiry make expiry a
// property of the value rather than of the remote TTL, so every reader
// agrees on freshness and can refresh a value early; delta, the load time,
// lets it refresh early in proportion to how long a reload takes. The key
// hash binds a frame to its key: a frame copied from another key (by a
// mistake, or by someone who can write to Redis) is refused, not served as
// this key's value.
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
