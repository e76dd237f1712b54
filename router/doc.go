// Package router is the root of Ostium's edge router. The router terminates mTLS from SDK
// clients and tunnelers, checks their API-session and session tokens against state pushed by
// the controller, and splices each Dial of a service to a Bind (terminator) of the same
// service.
//
// This package owns the router's configuration file ([Config], [LoadConfig], [ParseConfig]):
// the enrolled identity's files, the controller's addresses, the edge listener, the link
// listener and logging; and the wiring of a running router ([Start], [Run]), which the
// ostium-router command, the quickstart and the test harness share.
//
// The work is done by three packages: [github.com/ostium-net/ostium/router/edge] serves the
// edge listener (Hello, Connect, Bind and the messages of established connections),
// [github.com/ostium-net/ostium/router/splice] forwards the payload of a circuit between its two
// channels with bounded queues, and [github.com/ostium-net/ostium/router/ctrlclient] keeps the
// control channel to the controller: the in-memory token state the listener checks against,
// revocations, and the registration of terminators. [github.com/ostium-net/ostium/router/link]
// links the router to the other routers and carries circuits across them. The command in cmd/ostium-router enrolls
// a router and runs it. The router imports sdk and internal packages but never the controller.
package router
