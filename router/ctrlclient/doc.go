// Package ctrlclient owns the router's end of the control channel to the controller
// ([github.com/ostium-net/ostium/internal/ctrlproto] over sdk/wire framing and mutual TLS).
//
// A [Client] does these jobs:
//
//   - It keeps the router's copy of the API sessions, sessions and services the controller
//     pushes (one Sync, then Events in commit order) and serves token lookups from it
//     ([Client.APISession], [Client.Session]; it implements edge.Tokens). The copy survives a
//     lost connection unchanged, so clients keep working while the controller is away; the Sync
//     after a reconnect replaces it, and whatever it no longer holds is reported as removed.
//     With Config.StatePath it also survives a restart: the client saves the state to that
//     file (atomically, after changes) and loads it in New when the controller was heard from
//     within StateMaxAge, so that a router restarted while the controller is away serves the
//     clients it served (see state.go).
//   - It keeps the third-party CAs the controller trusts for client certificates
//     ([Client.ThirdPartyCAs]), which the edge listener accepts besides the network's CA.
//   - It reports removals through the OnAPISessionsRemoved, OnSessionsRemoved and OnCAsRemoved
//     hooks, which the router wires to the edge listener so that revoked sessions, and clients
//     of a CA no longer trusted, are cut at once.
//   - It records terminators with the controller ([Client.Register], [Client.Unregister],
//     [Client.Update]; it implements edge.TerminatorRegistry and edge.TerminatorUpdater). It
//     remembers every terminator it registered and re-registers them all in the Hello of each
//     new connection. The id Register returns stays valid across reconnects even when the
//     controller hands out new ids. A terminator bound while the controller is away is kept
//     as pending, served by this router at once, and registered by the next Hello.
//
// [Client.Run] dials, says Hello, pings every PingInterval and, when the connection fails or a
// Ping goes unanswered, dials again with exponential backoff and jitter.
package ctrlclient
