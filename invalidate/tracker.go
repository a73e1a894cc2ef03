package invalidate

// Tracker detects gaps in the sequence numbers of the origins heard on one
// subscription. The zero value is ready; it is not safe for concurrent use
// (a subscription reads its messages from one goroutine).
type Tracker struct {
	last map[string]uint64
}

// maxOrigins bounds the memory of a Tracker: instances come and go, each
// with a new ID. Forgetting every origin only means that the next message
// of each is taken as its first.
const maxOrigins = 4096

// Next records that seq arrived from origin and reports whether a message
// of that origin was skipped since the previous one. The first message of
// an origin is never a gap: a subscription that is (re)established is
// flushed anyway. A number at or below the last one (a duplicate) is not a
// gap either.
func (t *Tracker) Next(origin string, seq uint64) (gap bool) {
	last, seen := t.last[origin]
	if seen && seq <= last {
		return false
	}
	if t.last == nil || (!seen && len(t.last) >= maxOrigins) {
		t.last = make(map[string]uint64)
	}
	t.last[origin] = seq
	return seen && seq > last+1
}

// Reset forgets every origin. A subscription that was re-established should
// not: a message lost just after the flush of the resubscription only shows
// as a gap against the numbers from before.
func (t *Tracker) Reset() { clear(t.last) }
