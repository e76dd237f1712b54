package ctrlproto

// The controllers of a cluster. A router dials one controller; each pushes
// the control-channel endpoints of every member it knows, right after the
// Sync and whenever the set changes, so that a router whose controller dies
// or is cut off reconnects to another one without a change of its
// configuration.
//
//	controller → router   Controllers {endpoints[]}: "tls:host:port" of every member. No reply.

// TypeControllers carries Controllers.
const TypeControllers int32 = 20201

// Controllers lists the control-channel endpoints of a cluster's members.
type Controllers struct {
	Endpoints []string `json:"endpoints"`
}
