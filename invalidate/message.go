package invalidate

// Message tells the instances that share a namespace which L1 entries to
// drop. Keys, Tags, Prefix and Flush may be combined; a receiver drops
// every entry any of them names.
//
// The tiered cache always publishes the keys it removed. Tags and Prefix are
// for publishers that cannot list the keys (a CDC handler, an operator
// tool): an in-process tier cannot enumerate its entries by tag or prefix,
// so a receiving cache drops its whole L1 for them.
type Message struct {
	// Origin is the ID of the publishing bus. Set by the Bus on Publish.
	Origin string
	// Seq numbers the messages of one origin on one namespace: 1, 2, 3...
	// Set by the Bus on Publish. A receiver that sees a number skipped
	// knows it missed a message.
	Seq uint64
	// Sent is when the message was published, in Unix nanoseconds of the
	// publisher's clock. Set by the Bus; receivers derive the
	// invalidation lag from it.
	Sent int64

	// Namespace is the cache name (tiered.Options.Name) the message is for.
	Namespace string
	// Keys are L1 keys (the strings from tiered.Options.Key) to drop.
	Keys []string
	// Tags: drop every entry written with one of these tags.
	Tags []string
	// Prefix, when not empty: drop every key that starts with it.
	Prefix string
	// Flush: drop every entry of the namespace.
	Flush bool

	// Unsettled: the publisher could not apply the change to L2 (a failed
	// write or delete); it retries until it lands, then publishes Keys
	// again without the flag. Until then receivers must not serve the
	// values L2 holds for Keys, which may be older than the change.
	Unsettled bool
	// Wake marks a message that invalidates nothing: the leases of Keys
	// ended (their values were stored, or their loads failed), and the
	// instances waiting for those values look at L2 again instead of
	// waiting for their next poll.
	Wake bool
}
