// Package edge owns the edge listener of the router: the mTLS endpoint SDK clients and
// tunnelers connect to, speaking the OpenZiti edge protocol of the Go SDK v1.x line (framing in
// [github.com/ostium-net/ostium/sdk/wire]).
//
// A [Listener] accepts TLS connections that must present a client certificate from the
// configured CA pool. Each connection is a channel whose first message must be a Hello naming
// an API session that the client certificate belongs to (its SHA-1 fingerprint is among the
// API session's). On an authenticated channel the Listener:
//
//   - answers latency probes and channel pings;
//   - on Connect, checks the dial session, picks a terminator of the service (smartrouting,
//     weighted or random, or the one a TerminatorIdentity names), sends a Dial to its host and
//     answers the dialer with StateConnected (or StateClosed with an error code);
//   - on Bind, records a terminator locally and with the controller (through
//     [TerminatorRegistry]), answering StateConnected at once and BindSuccess once recorded;
//     Unbind, UpdateBind and health events change or remove it;
//   - hands Data and StateClosed of established connections to their circuit
//     ([github.com/ostium-net/ostium/router/splice]).
//
// With a [Fabric] (the router mesh, router/link), a Connect may also pick a terminator on
// another router: remote terminators weigh their own cost plus the cost of the path to them,
// and the circuit's host side is then the mesh ([FabricEnd]). Circuits arriving over the mesh
// for this router's terminators are served by [Listener.DialTerminator].
//
// Tokens are resolved from memory through [Tokens]; revocations pushed by the controller reach
// the Listener through [Listener.CloseSessions] and [Listener.CloseAPISessions], which cut the
// affected circuits and channels at once.
//
// Payload travels as plain edge Data messages; a Connect or Bind asking for OpenZiti's opt-in
// SDK flow control (UseXgressToSdk) is refused with a message saying so.
//
// Conn ids are per channel: a dialer picks its own, while the router picks the conn ids of the
// connections it hands to a host (from 2^31 upwards, the host having announced
// RouterProvidedConnId in its Bind).
package edge
