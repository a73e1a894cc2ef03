package invalidate

import (
	"context"
	"errors"
)

// ErrClosed is returned by a Bus used after its Close.
var ErrClosed = errors.New("invalidate: bus closed")

// ErrSubscribed is returned by Subscribe when the namespace already has a
// handler on this bus: one cache per namespace per bus.
var ErrSubscribed = errors.New("invalidate: namespace already subscribed")

// Bus carries invalidation messages between the instances that share an L2.
// Every instance has its own Bus (its own ID); caches of one process share
// it, one per namespace.
//
// Delivery is at most once: a message can be lost (a disconnect, a full
// buffer). A Bus therefore tells the handler whenever it may have missed
// one, through [Handler.Lost]; the handler then forgets everything it holds
// for the namespace.
type Bus interface {
	// ID identifies this bus (this instance) in the Origin of its messages.
	ID() string

	// Publish sends m to every subscriber of m.Namespace, this bus's own
	// included (receivers skip their own messages by Origin). The bus sets
	// Origin, Seq and Sent; it may merge messages of one namespace that
	// name only keys and are published faster than one round trip, and
	// split one too large for it into several ([Message.Split]), each
	// with a Seq of its own. Publish returns when m was sent or failed; a failed message is not lost:
	// the bus sends it again with the next one, and the skipped sequence
	// number makes receivers flush.
	Publish(ctx context.Context, m *Message) error

	// Subscribe registers h for the messages of namespace and returns at
	// once: the bus subscribes in the background, and again after every
	// disconnect, and calls h.Lost(Subscribed) when the first subscription
	// is in place, h.Lost(Interrupted) at the first sign that it broke
	// (an error, an unrequested unsubscription, a silent connection), and
	// h.Lost(Resubscribed) once it is back. Whatever h cached before a
	// subscription was in place may have missed messages, hence the first
	// call. The returned function ends the subscription; it is idempotent.
	Subscribe(namespace string, h Handler) (unsubscribe func(), err error)

	// Close ends every subscription, sends what is queued (best effort) and
	// stops the bus's goroutines. It is idempotent.
	Close() error
}

// Handler receives a namespace's messages from a Bus. Its methods are called
// from one goroutine per subscription, never concurrently for one
// namespace, and must be fast: a slow handler delays the messages behind it.
type Handler interface {
	// Receive is called with each message of the namespace, including this
	// bus's own. m is only valid during the call.
	Receive(m *Message)
	// Lost is called when messages of the namespace may have been missed:
	// the handler must drop every entry it holds for the namespace
	// (reason.Drops). After Lost(Interrupted) messages are being missed
	// until the next Lost(Resubscribed): the handler must not trust what
	// it caches in between either. A bus with a log of the messages says
	// Suspended and Resumed instead, when it could replay what was
	// missed: the handler stops trusting what it holds at the first and
	// trusts it again at the second, without dropping it.
	Lost(reason LostReason)
}

// Observer is implemented by a Handler that also wants to hear how the
// namespace's messages fared on their way out, including the bus's own
// retries, which no Publish caller waits for, and which payloads the bus
// dropped on their way in ([Rejected]). The bus calls Observe from its own
// goroutines; it must be fast.
type Observer interface {
	Observe(ev Event, keys int)
}

// Event is what a bus reports to an [Observer].
type Event uint8

const (
	// Sent: a message of the namespace left for the subscribers (keys:
	// how many keys it named; several Publish calls may share it).
	Sent Event = iota + 1
	// SendFailed: a message could not be sent; the bus keeps it and sends
	// it again (keys: how many keys it named).
	SendFailed
	// Rejected: a payload on the namespace's channel was dropped unread:
	// it failed authentication or exceeded the bus's size cap (keys: 0).
	// A rejected payload reaches neither Receive nor Lost, unless the bus
	// could have dropped a genuine invalidation (an oversized payload on
	// a bus without keys), which it then reports as Lost(Malformed) too.
	Rejected
)

// String returns the event's lower-case name.
func (e Event) String() string {
	switch e {
	case Sent:
		return "sent"
	case SendFailed:
		return "send_failed"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// LostReason says why messages may have been missed.
type LostReason uint8

const (
	// Subscribed: the first subscription is in place; what the handler
	// cached before it may have missed messages.
	Subscribed LostReason = iota + 1
	// Resubscribed: the subscription was re-established after a disconnect
	// (or after the server ended it); messages of the gap are lost.
	Resubscribed
	// Gap: a message's sequence number skipped one of its origin's.
	Gap
	// Malformed: a message on the namespace's channel could not be
	// decoded; it may have been an invalidation.
	Malformed
	// Interrupted: the subscription broke (its connection failed, or the
	// server ended it); messages are missed until Resubscribed.
	Interrupted
	// Suspended: the subscription broke, as for Interrupted, but the bus
	// keeps a log of the namespace's messages and will replay through
	// Receive what it misses once it is back. The handler must not serve
	// what it holds until Resumed (or a flush reason: the replay failed),
	// but need not drop it. A handler that drops everything on Suspended,
	// as on Interrupted, stays correct.
	Suspended
	// Resumed: after Suspended, the subscription is back and every message
	// missed meanwhile was replayed through Receive: what the handler holds
	// is good again. Nothing needs to be dropped.
	Resumed
)

// Drops reports whether the handler must drop what it holds for reason:
// every reason but Suspended and Resumed.
func (r LostReason) Drops() bool { return r != Suspended && r != Resumed }

// String returns the reason's lower-case name.
func (r LostReason) String() string {
	switch r {
	case Subscribed:
		return "subscribed"
	case Resubscribed:
		return "resubscribed"
	case Gap:
		return "gap"
	case Malformed:
		return "malformed"
	case Interrupted:
		return "interrupted"
	case Suspended:
		return "suspended"
	case Resumed:
		return "resumed"
	}
	return "unknown"
}
