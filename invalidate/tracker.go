package invalidate

// Tracker detects gaps in the sequence numbers of the origins heard on one
// subscription. The zero value is ready; it is not safe for concurrent use
// (a subscription reads its messages from one goroutine).
//
// A Tracker trusts no number blindly: a message that claims a number far
// from its origin's last one (more than 2²⁰ ahead or behind) counts as a
// gap and does not move the origin's record, so that one forged message (a
// number of math.MaxUint64 under a real instance's origin) can cost a
// flush but cannot make the origin's later numbers look like duplicates
// and switch gap detection off. See [Tracker.Next].
type Tracker struct {
	last map[string]originSeqs
}

// originSeqs is what a Tracker holds of one origin.
type originSeqs struct {
	last uint64 // the highest number recorded
	// far is the last number heard too far from last to be recorded (0:
	// none); the number after it confirms it (see Tracker.Next).
	far uint64
}

// maxOrigins bounds the memory of a Tracker: instances come and go, each
// with a new ID. Forgetting every origin only means that the next message
// of each is taken as its first.
const maxOrigins = 4096

// maxSeqJump is the farthest a number may be from its origin's last one,
// ahead or behind, and still be recorded. A publisher numbers every
// attempt, so it skips one number per failed send: a million in a row is
// days of backoff, not a real outage.
const maxSeqJump = 1 << 20

// Next records that seq arrived from origin and reports whether a message
// of that origin may have been missed since the previous one. The first
// message of an origin is never a gap: a subscription that is
// (re)established is flushed anyway. A number at or below the last one,
// and not far below (a duplicate), is not a gap either.
//
// A number more than 2²⁰ past the origin's last one is a gap and is not
// recorded: the tracker does not move, so a forged number cannot switch
// detection off for the origin. Its next number then confirms it: a real
// origin that did skip that far (or an attacker who forges two numbers in
// a row) is recorded from there on. A number more than 2²⁰ below the last
// one is a gap too, and replaces the record: the origin restarted with its
// ID, or the record was forged, and either way the origin's own numbers
// must count from now on.
func (t *Tracker) Next(origin string, seq uint64) (gap bool) {
	o, seen := t.last[origin]
	switch {
	case !seen:
	case seq > o.last && seq-o.last > maxSeqJump:
		if o.far == 0 || seq != o.far+1 {
			o.far = seq
			t.last[origin] = o
			return true
		}
		// The number after the far one: the origin does count from there.
	case seq <= o.last && o.last-seq > maxSeqJump:
		gap = true
	case seq <= o.last:
		return false
	default:
		gap = seq > o.last+1
	}
	if t.last == nil || (!seen && len(t.last) >= maxOrigins) {
		t.last = make(map[string]originSeqs)
	}
	t.last[origin] = originSeqs{last: seq}
	return gap
}

// Reset forgets every origin. A subscription that was re-established should
// not: a message lost just after the flush of the resubscription only shows
// as a gap against the numbers from before.
func (t *Tracker) Reset() { clear(t.last) }
