// Package codec turns typed values into bytes for the remote tier and back.
//
// A [Codec] is chosen per cache. [Msgpack] is the default of the tiered cache;
// [JSON] trades speed for readability in redis-cli; [Bytes] and [String] pass
// raw values through unchanged. A [Compressor] ([S2]) shrinks large payloads;
// the tiered cache applies it above a size threshold.
//
//	var c codec.Codec[User] = codec.Msgpack[User]{}
//	b, err := c.Marshal(nil, u)
//	var back User
//	err = c.Unmarshal(b, &back)
//
// Decoders never panic on bad input: they return an error wrapping
// [ErrCorrupt] (or [ErrTooLarge] for a compressed block over its size
// limit), and the cache treats such a value as a miss. Marshal and Compress
// append to the slice they are given, so a caller can encode straight after
// a header it has already written.
package codec
