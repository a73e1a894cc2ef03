package redisbus_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
)

var (
	keyOld = bytes.Repeat([]byte{'o'}, 32)
	keyNew = bytes.Repeat([]byte{'n'}, 32)
)

// With Keys, no payload but one signed for the channel reaches the
// handler: each of the others is counted as Rejected, and calls neither
// Receive nor Lost, nor moves the tracker. A signed payload that does not
// decode (a peer of a newer version) is still Lost(Malformed).
func TestBus_Authentication(t *testing.T) {
	t.Parallel()
	_, client := newMiniredis(t)
	opts := &redisbus.Options{Keys: [][]byte{keyOld}, MaxMessageSize: 4096}
	pub := newBus(t, client, &redisbus.Options{ID: "pub", Keys: opts.Keys})
	sub := newBus(t, client, opts)
	r := newRecorder()
	if _, err := sub.Subscribe("user", r); err != nil {
		t.Fatal(err)
	}
	r.subscribed(t)
	publish(t, pub, "user", "first") // pub's seq 1
	r.wait(t, "the first message", r.hasKeys("first"))

	channel := sub.Channel("user")
	forged := func(m invalidate.Message) []byte {
		m.Namespace = "user"
		return encode(t, &m)
	}
	flush := forged(invalidate.Message{Origin: "attacker", Seq: 1, Flush: true})
	big := forged(invalidate.Message{Origin: "pub", Seq: 2, Keys: []string{strings.Repeat("k", 4096)}})
	rejected := []struct {
		name    string
		payload []byte
	}{
		{"unsigned flush", flush},
		{"unsigned under the real origin, seq 3", forged(invalidate.Message{Origin: "pub", Seq: 3, Keys: []string{"forged"}})},
		{"unsigned seq MaxUint64", forged(invalidate.Message{Origin: "pub", Seq: math.MaxUint64, Flush: true})},
		{"garbage", []byte("garbage")},
		{"empty", nil},
		{"16 zero bytes", make([]byte, 16)},
		{"shorter than a MAC", []byte("0123456789abcde")},
		{"signed with another key", sign(keyNew, channel, flush)},
		{"signed for another namespace", sign(keyOld, sub.Channel("order"), flush)},
		{"signed for another prefix", sign(keyOld, "other:user", flush)},
		{"MAC cut short", sign(keyOld, channel, flush)[:len(flush)+15]},
		{"a MAC bit flipped", func() []byte { p := sign(keyOld, channel, flush); p[len(p)-1] ^= 1; return p }()},
		{"a message bit flipped", func() []byte { p := sign(keyOld, channel, flush); p[3] ^= 1; return p }()},
		{"signed, over MaxMessageSize", sign(keyOld, channel, big)},
	}
	for _, tt := range rejected {
		rawPublish(t, client, channel, tt.payload)
	}
	// Signed, but not a message this version reads.
	rawPublish(t, client, channel, sign(keyOld, channel, []byte("a message of version 2")))
	publish(t, pub, "user", "second") // pub's seq 2: no gap, whatever the forgeries claimed
	r.wait(t, "the second message", r.hasKeys("second"))

	r.mu.Lock()
	defer r.mu.Unlock()
	if want := []string{"first", "second"}; !slices.Equal(r.keys, want) {
		short := make([]string, len(r.keys))
		for i, k := range r.keys {
			short[i] = k[:min(len(k), 20)]
		}
		t.Errorf("received keys %q (cut to 20 bytes), want %q", short, want)
	}
	if want := []invalidate.LostReason{invalidate.Subscribed, invalidate.Malformed}; !slices.Equal(r.lost, want) {
		t.Errorf("Lost calls %v, want %v", r.lost, want)
	}
	if r.rejected() != len(rejected) {
		t.Errorf("%d payloads reported Rejected, want %d", r.rejected(), len(rejected))
	}
	if last := r.msgs[len(r.msgs)-1]; last.Origin != "pub" || last.Seq != 2 {
		t.Errorf("last message from %s seq %d, want pub seq 2", last.Origin, last.Seq)
	}
}

// Keys rotate without downtime: a receiver accepts what any of its keys
// signed, a sender signs with its first.
func TestBus_KeyRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sender   [][]byte
		receiver [][]byte
		want     string // "received", "rejected" or "malformed"
	}{
		{"same key", [][]byte{keyOld}, [][]byte{keyOld}, "received"},
		{"step 1: [old,new] from [old]", [][]byte{keyOld}, [][]byte{keyOld, keyNew}, "received"},
		{"step 1: [old] from [old,new]", [][]byte{keyOld, keyNew}, [][]byte{keyOld}, "received"},
		{"step 2: [new,old] from [old,new]", [][]byte{keyOld, keyNew}, [][]byte{keyNew, keyOld}, "received"},
		{"step 2: [old,new] from [new,old]", [][]byte{keyNew, keyOld}, [][]byte{keyOld, keyNew}, "received"},
		{"step 3: [new] from [new,old]", [][]byte{keyNew, keyOld}, [][]byte{keyNew}, "received"},
		{"step 3: [new,old] from [new]", [][]byte{keyNew}, [][]byte{keyNew, keyOld}, "received"},
		{"a skipped step: [new] from [old,new]", [][]byte{keyOld, keyNew}, [][]byte{keyNew}, "rejected"},
		{"another key", [][]byte{keyOld}, [][]byte{keyNew}, "rejected"},
		{"an unsigned sender", nil, [][]byte{keyOld}, "rejected"},
		// A receiver without keys reads the MAC as trailing bytes.
		{"a receiver without keys", [][]byte{keyOld}, nil, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, client := newMiniredis(t)
			pub := newBus(t, client, &redisbus.Options{ID: "pub", Keys: tt.sender})
			sub := newBus(t, client, &redisbus.Options{Keys: tt.receiver})
			r := newRecorder()
			if _, err := sub.Subscribe("user", r); err != nil {
				t.Fatal(err)
			}
			r.subscribed(t)
			publish(t, pub, "user", "rotated")
			// A message the receiver accepts, behind it on the channel.
			marker := encode(t, &invalidate.Message{Origin: "marker", Seq: 1, Namespace: "user", Keys: []string{"marker"}})
			if len(tt.receiver) > 0 {
				marker = sign(tt.receiver[0], sub.Channel("user"), marker)
			}
			rawPublish(t, client, sub.Channel("user"), marker)
			r.wait(t, "the marker", r.hasKeys("marker"))

			r.mu.Lock()
			defer r.mu.Unlock()
			got := "rejected"
			switch {
			case slices.Contains(r.keys, "rotated"):
				got = "received"
			case r.count(invalidate.Malformed) > 0:
				got = "malformed"
			}
			if got != tt.want {
				t.Errorf("the sender's message was %s, want %s (lost %v, %d rejected)", got, tt.want, r.lost, r.rejected())
			}
			if wantRejected := map[bool]int{true: 1}[tt.want == "rejected"]; r.rejected() != wantRejected {
				t.Errorf("%d payloads reported Rejected, want %d", r.rejected(), wantRejected)
			}
		})
	}
}

// Payloads dropped unread are logged at most once a minute, not per
// payload: whoever can publish garbage should not fill every instance's
// log. Each is counted, though.
func TestBus_RejectedLogRateLimited(t *testing.T) {
	t.Parallel()
	for _, keys := range [][][]byte{nil, {keyOld}} {
		t.Run(fmt.Sprintf("%d keys", len(keys)), func(t *testing.T) {
			t.Parallel()
			_, client := newMiniredis(t)
			logs := newLogCounter()
			sub := newBus(t, client, &redisbus.Options{Keys: keys, MaxMessageSize: 4096, Logger: slog.New(logs)})
			r := newRecorder()
			if _, err := sub.Subscribe("user", r); err != nil {
				t.Fatal(err)
			}
			r.subscribed(t)
			const n = 50
			for range n {
				rawPublish(t, client, sub.Channel("user"), bytes.Repeat([]byte{'x'}, 5000)) // over the cap
				rawPublish(t, client, sub.Channel("user"), sign(keyNew, sub.Channel("user"), []byte("garbage")))
			}
			marker := encode(t, &invalidate.Message{Origin: "marker", Seq: 1, Namespace: "user", Keys: []string{"marker"}})
			if len(keys) > 0 {
				marker = sign(keys[0], sub.Channel("user"), marker)
			}
			rawPublish(t, client, sub.Channel("user"), marker)
			r.wait(t, "the marker", r.hasKeys("marker"))

			r.mu.Lock()
			defer r.mu.Unlock()
			wantRejected, wantMalformed, wantMalformedLines := 2*n, 0, 0
			if len(keys) == 0 { // the oversized ones are also Lost; the rest is garbage
				wantRejected, wantMalformed, wantMalformedLines = n, 2*n, 1
			}
			if r.rejected() != wantRejected || r.count(invalidate.Malformed) != wantMalformed {
				t.Errorf("%d Rejected and %d Lost(Malformed), want %d and %d", r.rejected(), r.count(invalidate.Malformed), wantRejected, wantMalformed)
			}
			rejectedLines := logs.get("tiercache: invalidation payload rejected")
			malformedLines := logs.get("tiercache: undecodable invalidation message")
			if rejectedLines != 1 || malformedLines != wantMalformedLines {
				t.Errorf("%d lines about rejected payloads and %d about undecodable ones, want 1 and %d",
					rejectedLines, malformedLines, wantMalformedLines)
			}
		})
	}
}
