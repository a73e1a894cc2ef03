package envelope

import "time"

// HeaderSize is the length of the header that starts every frame.
const HeaderSize = 37

// Version is the frame format version this package writes and reads.
// Version 1 (a 28-byte header without compressor and schema) and version 2
// (a 33-byte header without the key) were written by earlier releases;
// [Decode] answers [ErrOtherVersion] for them, as for any version but this
// one.
const Version = 3

// magic starts every frame.
const magic0, magic1 = 0xC7, 0x7C

// Flags describe a frame's payload.
type Flags uint8

const (
	// FlagNotFound marks a cached "absent" answer: the loader reported that
	// the key does not exist. The payload is empty.
	FlagNotFound Flags = 1 << iota
	// FlagCompressed marks a compressed payload.
	FlagCompressed
	// FlagTombstone marks a deleted key: the frame holds no value, only a
	// random payload that makes it unique, so that a load that read it
	// before it was replaced can tell (its conditional write fails).
	FlagTombstone
	// FlagQueued marks a value written behind (write-behind): accepted by
	// the cache and queued for the source of truth. It is fresh whatever
	// its expiry while it is queued; once it is in the source, the remote
	// tier's own TTL ends it.
	FlagQueued

	// knownFlags are the bits this version defines; the others are reserved
	// and a frame with any of them set is refused.
	knownFlags = FlagNotFound | FlagCompressed | FlagTombstone | FlagQueued
)

// Header is the metadata stored in front of every payload.
type Header struct {
	// Flags describe the payload.
	Flags Flags
	// Compressor identifies the compressor of a payload with
	// FlagCompressed (0 otherwise): a reader with another one must not
	// try to decompress it.
	Compressor uint8
	// Schema fingerprints what wrote the payload: the codec and the
	// value's schema. A reader of another schema treats the frame as a
	// value it cannot read, not as a damaged one. Tombstones carry 0.
	Schema uint32
	// Created is when the value was loaded, in unix milliseconds.
	Created int64
	// Expiry is the value's logical expiry, in unix milliseconds.
	Expiry int64
	// Delta is how long loading the value took. It is stored in whole
	// microseconds, from 0 to math.MaxUint32 µs (about 71 minutes): finer
	// precision is truncated and values outside the range are clamped.
	Delta time.Duration
	// Key binds the frame to the key it was written under: a short hash of
	// the cache's namespace and the key, computed by the writer. A reader
	// compares it with its own hash of the key it read, so that a frame
	// copied under another key (of the same type) is refused instead of
	// being served as that key's value. The envelope only carries it.
	Key uint32
}
