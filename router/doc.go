// Package router is the root of Ostium's edge router. The router terminates mTLS from SDK
// clients and tunnelers, checks their API-session and session tokens against state pushed by
// the controller, and splices each Dial of a service to a Bind (terminator) of the same
// service.
//
// Its data plane lives in two packages: [github.com/ostium-net/ostium/router/edge] serves the
// edge listener (Hello, Connect, Bind and the messages of established connections) and
// [github.com/ostium-net/ostium/router/splice] forwards the payload of a circuit between its two
// channels with bounded queues. The router imports sdk packages but never the controller.
package router
