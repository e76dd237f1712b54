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
	command.Register(command.TypeAuthenticateMany, func() command.Command { return &AuthenticateMany{} })
	command.Register(command.TypeCreateSessions, func() command.Command { return &CreateSessions{} })
	command.Register(command.TypeRenewRouterLeases, func() command.Command { return &RenewRouterLeases{} })
	command.Register(command.TypeCompleteMFA, func() command.Command { return &CompleteMFA{} })
	command.Register(command.TypeEnroll, func() command.Command { return &Enroll{} })
	command.Register(command.TypeEnrollWithCA, func() command.Command { return &EnrollWithCA{} })
	command.Register(command.TypeIssueEnrollment, func() command.Command { return &IssueEnrollment{} })
	command.Register(command.TypeReEnrollRouter, func() command.Command { return &ReEnrollRouter{} })
	command.Register(command.TypeAddSessionCert, func() command.Command { return &AddSessionCert{} })
	command.Register(command.TypeRemoveSessionCert, func() command.Command { return &RemoveSessionCert{} })
	command.Register(command.TypeExtendAuthenticator, func() command.Command { return &ExtendAuthenticator{} })
	command.Register(command.TypeVerifyExtension, func() command.Command { return &VerifyExtension{} })
	command.Register(command.TypeExtendRouter, func() command.Command { return &ExtendRouter{} })
	command.Register(command.TypeIssueJoinToken, func() command.Command { return &IssueJoinToken{} })
	command.Register(command.TypeUseJoinToken, func() command.Command { return &UseJoinToken{} })
	command.Register(command.TypeCreateIdentity, func() command.Command { return &CreateIdentity{} })
	command.Register(command.TypeReportPosture, func() command.Command { return &ReportPosture{} })
	command.Register(command.TypeRemoveMFA, func() command.Command { return &RemoveMFA{} })
	command.Register(command.TypeChangePassword, func() command.Command { return &ChangePassword{} })
	command.Register(command.TypePassMFA, func() command.Command { return &PassMFA{} })
}
