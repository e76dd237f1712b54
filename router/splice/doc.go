// Package splice owns the forwarding machinery of a circuit: the two bounded queues that carry
// edge messages from one channel to the other, the goroutines that drain them, half-close and
// close propagation, and the idle timeout.
//
// A [Circuit] joins two endpoints, each an edge connection (a conn id) on a channel that can
// send messages. The reading goroutine of a channel hands Data and StateClosed messages to
// [Circuit.Forward]; they are queued towards the other endpoint and written there by a pump
// goroutine of the circuit, except while nothing is queued before them: an endpoint that can
// take a message without waiting (a [DirectSender] such as a link to another router) is
// handed it at once, and one that can write it knowing the write will not wait (a [TrySender]
// such as an edge channel whose writer is idle and whose send buffer is empty) has it written
// by the reading goroutine itself, so that a round trip through one router wakes no pump.
// Queues are bounded in messages and bytes, so a slow reader slows the writer down instead
// of growing the router's memory: when a queue is full, Forward waits.
// It waits at most the stall timeout; after that the circuit is closed with a logged reason, so
// one stuck circuit cannot hold the other circuits of the same channel back for longer.
//
// Payload buffers are not copied on the way: a message read by the wire decoder (which takes
// its body from a pool) is queued as is, its connection id rewritten, and released back to the
// pool once written or dropped.
package splice
