package stats

// Op is an operation of the remote tier, as [Recorder.ObserveL2] reports
// it. New operations may be added in later versions.
type Op uint8

// The operations of the remote tier (the methods of l2.Store and of its
// optional interfaces).
const (
	OpGet Op = iota
	OpGetMany
	OpSet       // also a tombstone's write without leases
	OpSetMany   // also tombstones
	OpDelete    // a plain delete, by a store without conditional writes
	OpSetIf     // a load's conditional write
	OpSetManyIf // a batch load's conditional write
	OpLease
	OpSetLeased
	OpRelease
	OpRevoke // writes and deletes with leases: values or tombstones that end the keys' leases
	OpTag
	OpPopTagged
	OpDeletePrefix
	OpStage   // write-behind: a value queued for the source
	OpClaim   // write-behind: the flusher claims queued values
	OpUnstage // write-behind: queued values that reached the source

	numOps // keep last
)

var opNames = [numOps]string{
	OpGet: "get", OpGetMany: "get_many", OpSet: "set", OpSetMany: "set_many", OpDelete: "delete",
	OpSetIf: "set_if", OpSetManyIf: "set_many_if", OpLease: "lease", OpSetLeased: "set_leased",
	OpRelease: "release", OpRevoke: "revoke", OpTag: "tag", OpPopTagged: "pop_tagged",
	OpDeletePrefix: "delete_prefix", OpStage: "stage", OpClaim: "claim", OpUnstage: "unstage",
}

// String returns the operation's snake_case name, as used in metric labels.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "unknown"
}

// Ops returns every operation this version of the package knows, in order.
func Ops() []Op {
	out := make([]Op, numOps)
	for i := range out {
		out[i] = Op(i)
	}
	return out
}

// Outcome is how a call of the remote tier ended.
type Outcome uint8

const (
	// OK: the tier answered (a miss is an answer).
	OK Outcome = iota
	// Failed: the tier failed (a connection error, an error reply).
	Failed
	// TimedOut: the call's deadline passed (Options.L2Timeout, or the
	// caller's).
	TimedOut
	// Canceled: the caller's context was canceled first.
	Canceled

	numOutcomes // keep last
)

var outcomeNames = [numOutcomes]string{OK: "ok", Failed: "error", TimedOut: "timeout", Canceled: "canceled"}

// String returns the outcome's name, as used in metric labels.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}
