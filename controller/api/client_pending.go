package api

import (
	clientops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations"
)

// registerClientPending assigns the enrollment operations (client_enroll.go),
// the renewal operations (client_extend.go) and the posture responses
// (client_posture.go).
func (s *Server) registerClientPending(a *clientops.EdgeClientAPI) {
	s.registerClientEnroll(a)
	s.registerClientExtend(a)
	s.registerClientPosture(a)
}
