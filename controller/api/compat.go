package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// What OpenZiti's C SDK (and so ziti-edge-tunnel and the Python, Node, Swift
// and Android SDKs built on it) expects of every controller, beyond the API
// contract itself:
//
//   - The whole Edge Client API answers at the root as well as under
//     /edge/client/v1 (the "legacy" paths): its first authentication posts
//     to /authenticate relative to the identity file's ztAPI, before it reads
//     the API's path from /version.
//   - Every answer carries a ziti-instance-id header that stays the same for
//     the life of a controller process and changes when it restarts; the SDK
//     compares it to tell when to resend its posture data, and does not cope
//     with its absence.

// InstanceIDHeader names the header that identifies a controller process.
const InstanceIDHeader = "ziti-instance-id"

// newInstanceID is a random id for one start of the API: two processes, or
// two nodes of a cluster, never share one.
func newInstanceID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// withInstanceID sets the instance header on every answer of next.
func withInstanceID(id string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(InstanceIDHeader, id)
		next.ServeHTTP(w, r)
	})
}

// atRoot serves the client API at the root: a request for /X is handed to
// the client API's own handler as /edge/client/v1/X, so the same generated
// routes, authorization, handlers and envelopes answer both, and paths the
// client API does not have get its 404 envelope. Paths of their own (the
// management API, /edge/client/v1 itself, OIDC) are registered on the mux
// beside this one and, being longer patterns, take precedence.
func atRoot(client http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Path = clientBase + r.URL.Path
		if u.RawPath != "" {
			u.RawPath = clientBase + r.URL.RawPath
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = &u
		client.ServeHTTP(w, r2)
	})
}

// capabilities lists what this controller serves of OpenZiti's optional
// capabilities, for /version and /enumerated-capabilities. Clients switch
// flows on them, so only what is really served may appear:
//   - OIDC_AUTH: newer SDKs sign in with OpenID Connect under /oidc (the
//     edge-oidc API of /version), served unless disabled.
//   - HA_CONTROLLER: SDKs read GET /controllers (every member of the raft
//     cluster, with its API addresses, certificate, fingerprint and whether
//     this controller reaches it) and move to another controller when one
//     fails. Every controller runs raft, a single node being a cluster of
//     one, so the list is always real; OpenZiti's clients sign in to HA
//     controllers only with OIDC, so it is listed only with OIDC_AUTH.
func (s *Server) capabilities() []string {
	out := []string{}
	if s.oidc != nil {
		out = append(out, "OIDC_AUTH")
		if s.Node != nil {
			out = append(out, "HA_CONTROLLER")
		}
	}
	return out
}
