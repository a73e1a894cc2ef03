package redisbus

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// macSize is the length of the MAC that ends a signed payload: HMAC-SHA256
// truncated to 128 bits.
const macSize = 16

// auth signs and verifies the payloads of one channel with Options.Keys. A
// payload is the encoded message followed by its MAC, HMAC-SHA256 over the
// channel name, a 0 byte and the encoded message, truncated to macSize
// bytes: binding the channel keeps a payload from being replayed on
// another namespace, scope or database.
//
// An auth keeps its hash states and buffers for reuse: it is not safe for
// concurrent use (a subscription verifies from its read goroutine, a
// publisher signs while it holds its sending lock).
type auth struct {
	header []byte      // the channel name and a 0 byte
	macs   []hash.Hash // one per key; macs[0] signs
	sum    []byte      // the last MAC computed
}

// newAuth returns the auth of channel with keys, or nil without keys.
func newAuth(channel string, keys [][]byte) *auth {
	if len(keys) == 0 {
		return nil
	}
	a := &auth{header: append([]byte(channel), 0), sum: make([]byte, 0, sha256.Size)}
	for _, k := range keys {
		a.macs = append(a.macs, hmac.New(sha256.New, k))
	}
	return a
}

// mac returns the MAC of msg with key i, valid until the next call.
func (a *auth) mac(i int, msg []byte) []byte {
	h := a.macs[i]
	h.Reset()
	h.Write(a.header)
	h.Write(msg)
	a.sum = h.Sum(a.sum[:0])
	return a.sum[:macSize]
}

// sign appends the MAC of msg, with the first key, to msg.
func (a *auth) sign(msg []byte) []byte {
	return append(msg, a.mac(0, msg)...)
}

// verify returns the message that payload signs, and whether its MAC is
// right under one of the keys.
func (a *auth) verify(payload []byte) ([]byte, bool) {
	if len(payload) < macSize {
		return nil, false
	}
	msg, tag := payload[:len(payload)-macSize], payload[len(payload)-macSize:]
	for i := range a.macs {
		if hmac.Equal(a.mac(i, msg), tag) {
			return msg, true
		}
	}
	return nil, false
}
