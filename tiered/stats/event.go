package stats

// Event is one kind of thing a cache counts. New events may be added in
// later versions; a Recorder ignores events it does not know.
type Event uint8

// The events a cache records.
const (
	// L1Hit: a value (or a cached "not found") was served from the
	// in-process tier.
	L1Hit Event = iota
	// L1Miss: the in-process tier had no entry for the key.
	L1Miss
	// L2Hit: a value was read from the remote tier.
	L2Hit
	// L2Miss: the remote tier had no entry for the key.
	L2Miss
	// L2Error: the remote tier failed or timed out (reads and writes).
	L2Error
	// L2Skipped: the remote tier was skipped because it failed recently
	// (the cache waits for a cool-down before it tries again).
	L2Skipped
	// L2Corrupt: a value read from the remote tier could not be decoded
	// (foreign, truncated or corrupt bytes); it was treated as a miss and
	// deleted.
	L2Corrupt
	// LoadSuccess: the loader returned a value. Observed with its duration.
	LoadSuccess
	// LoadNotFound: the loader reported that the key does not exist.
	// Observed with its duration.
	LoadNotFound
	// LoadFailure: the loader returned an error (or panicked). Observed
	// with its duration.
	LoadFailure

	numEvents // keep last
)

var eventNames = [numEvents]string{
	L1Hit:        "l1_hit",
	L1Miss:       "l1_miss",
	L2Hit:        "l2_hit",
	L2Miss:       "l2_miss",
	L2Error:      "l2_error",
	L2Skipped:    "l2_skipped",
	L2Corrupt:    "l2_corrupt",
	LoadSuccess:  "load_success",
	LoadNotFound: "load_not_found",
	LoadFailure:  "load_failure",
}

// String returns the event's snake_case name, as used in metric labels.
func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return "unknown"
}

// Events returns every event this version of the package knows, in order.
func Events() []Event {
	out := make([]Event, numEvents)
	for i := range out {
		out[i] = Event(i)
	}
	return out
}
