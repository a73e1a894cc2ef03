package l2

import (
	"errors"
	"fmt"
)

// ErrKeyFault is wrapped by the errors of a Store that concern one key and
// not the store: the key holds something the store cannot use (a Redis
// hash or list where a value, a lease or a tag index belongs: WRONGTYPE), a
// script failed on that key alone, or the shard that owns the key is moving
// it (TRYAGAIN, ASK during a Redis Cluster slot migration). The store works
// for every other key, so a caller takes such a key for a miss and does not
// hold the failure against the store: the tiered cache's breaker ignores it.
//
// A Store repairs what it can before it answers: redisstore deletes a
// value, lease or tag index of the wrong type (it can hold nothing the
// store wrote), so that the next call on the key works.
var ErrKeyFault = errors.New("l2: key fault")

// KeyFaults is the error of a batch operation (GetMany, SetMany,
// SetManyIf, Lease, SetLeased, Release, Revoke, Delete, Tag, Stage, Claim,
// Unstage) in which some keys, and only they, failed with a key fault (see
// [ErrKeyFault]). The rest of the batch was carried out, and its results
// are valid: the result slice has its full length, with zero values at the
// positions in Index.
//
// It wraps ErrKeyFault and the error of the first failed key.
type KeyFaults struct {
	// Index lists the positions of the failed keys in the batch (its keys,
	// its items or, for Tag, its tags), in increasing order.
	Index []int
	// Err is the error of the first of them.
	Err error
}

// Error says how many keys failed, and why the first one did.
func (e *KeyFaults) Error() string {
	return fmt.Sprintf("l2: %d of the batch's keys failed: %v", len(e.Index), e.Err)
}

// Unwrap returns ErrKeyFault and the first key's error.
func (e *KeyFaults) Unwrap() []error { return []error{ErrKeyFault, e.Err} }

// Faulted returns the positions in err's [KeyFaults] as a set, or nil when
// err is not one: a helper for callers that walk a batch's results.
func Faulted(err error) map[int]bool {
	var kf *KeyFaults
	if !errors.As(err, &kf) {
		return nil
	}
	set := make(map[int]bool, len(kf.Index))
	for _, i := range kf.Index {
		set[i] = true
	}
	return set
}
