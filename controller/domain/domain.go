// Package domain holds the controller's user actions as typed raft
// commands (create a session, authenticate, revoke sessions, ...). Each
// re-checks its rules in Apply, inside the write transaction: grant, posture,
// uniqueness, lock effects, so that what a handler read before proposing can
// never let through what the state no longer allows. One user action is one
// log entry. Generic record edits (command.CreateEntity and its kin) stay
// for administrators' edits of records.
//
// The commands register themselves with package command's dispatch table
// when this package is linked in; every controller binary links it through
// its API.
package domain

import "github.com/ostium-net/ostium/controller/command"

func init() {
	command.Register(command.TypeRevokeSessions, func() command.Command { return &RevokeSessions{} })
	command.Register(command.TypeCreateSession, func() command.Command { return &CreateSession{} })
	command.Register(command.TypeDisableIdentity, func() command.Command { return &DisableIdentity{} })
	command.Register(command.TypeEndAPISessions, func() command.Command { return &EndAPISessions{} })
	command.Register(command.TypeAuthenticate, func() command.Command { return &Authenticate{} })
	command.Register(command.TypeRenewRouterLeases, func() command.Command { return &RenewRouterLeases{} })
	command.Register(command.TypeCompleteMFA, func() command.Command { return &CompleteMFA{} })
}
