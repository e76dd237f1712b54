// Package link owns the router mesh: links between routers, circuits carried across them
// hop by hop, and the computation of paths. The wire protocol is in PROTOCOL.md beside this
// file.
//
// # Links
//
// A [Manager] accepts links on the router's link listener (when it has one) and dials one
// link to every other router that listens, as the controller pushes them; when both routers
// listen, the one with the smaller id dials, so each pair has one link. Both ends present the
// router's enrolled certificate over TLS 1.3, and each accepts the other only when its
// certificate chains to the network's CA and is the current certificate of an enabled router
// (an identity's certificate, a foreign CA's, or a deleted or re-enrolled router's is
// refused). A router that is deleted, disabled or re-enrolled has its links closed. Each link
// is probed every ProbeInterval to measure its round trip; one whose probes go unanswered for
// ProbeTimeout is closed. Lost links are dialed again with backoff (at most MaxBackoff, 2 s
// by default), so a returning peer is linked again within seconds. The links and their
// latency are reported to the controller whenever they change.
//
// # Paths: computed on each router
//
// Paths are computed by every router for the dials it serves, from what it holds: the
// routers, the terminators of every router and the links every router reported (the
// topology), all pushed by the controller, with this router's own links as it measures them.
// A link costs the static cost of the listener it was dialed to plus its round trip in whole
// milliseconds (at least 1); Dijkstra finds the cheapest path to every router. The edge
// listener weighs each remote terminator by its own cost plus its path's under the service's
// strategy (smartrouting, weighted, random), next to the router's local terminators (path
// cost 0). So a dial needs no controller round trip, and while the controller is away dials
// go on over the paths and terminators the router last heard of.
//
// # Circuits
//
// The dialer's router sends a create frame along the path; each router in the middle
// records a hop (frames from one link go on to the other, with the circuit number of each
// link) and the last one dials its host through the edge listener ([Host]); the created
// frame travels back. Payload then flows as data frames, many circuits multiplexed per link.
// Flow control is per circuit and end to end: each end may have at most Window bytes (plus
// MessageOverhead per message) in flight, and the other end returns credit as it delivers to
// its client. A link's reader therefore never waits for any one circuit: a stalled host stops
// its own circuit's credit, slowing its dialer, while the other circuits of the link flow.
// A middle router buffers no more than the windows of the circuits crossing it. Half-close
// travels as the FIN flag of the edge Data message carried; close travels as a close frame.
// End-to-end encryption is untouched: payload is forwarded as the SDKs sealed it.
//
// Each link has a writer goroutine that drains a queue of frames in batches. A frame of at
// most 128 KiB that finds the writer idle and nothing queued is written by the goroutine that
// sends it instead, usually the reader of another link or of an edge channel, through a TLS
// write that never waits on the peer (sdk/tlsio's TryWrite: what the kernel does not take at
// once is written next by a goroutine of its own): a message crosses a router without waking
// a goroutine and without probing the socket first, and a bulk transfer mostly does too.
// At the ends of a path the same holds towards the edge client: a data frame whose client's
// channel is idle is written there by the link's reader, which returns its credit as the
// circuit's pump would (see splice.TrySender).
//
// # Broken paths
//
// When a link of a path is lost, the circuits over it are moved to another path when there is
// one (resume.go): the router in the middle that lost the link tells the ends which link
// broke; the dialer's router computes a path around it from what it holds and sends a resume
// frame along it, and the host's router moves the circuit there. Each end keeps the data
// frames it sent until credit shows them delivered (no more than the window it respects
// anyway), and both exchange cumulative counts of what they received, so each sends again
// exactly what the other lacks: the stream goes on with no byte lost or repeated, FIN and
// close still travelling end to end. Middle routers only pass frames on, as for a create.
// When there is no other path, or it is not mended within ResumeTimeout (the host's router
// waits ResumeWait), the circuit closes with an error code that the SDK reports (not the
// end of the stream), within 2 s by default. New dials take another path at once, as paths
// are computed from the links up now.
package link
