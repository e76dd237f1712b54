// Package ctrlproto defines the control channel between an edge router and
// the controller: Ostium's own message types, carried in the same framing as
// the edge protocol (sdk/wire) over mutual TLS, with the router's enrolled
// client certificate. It is shared by controller/routerctl (the server) and
// router/ctrlclient (the client), which never import each other.
//
// The conversation:
//
//	router → controller   Hello        {routerId?, version, terminators[]}: the terminators the router
//	                                    holds now (a reconnect re-registers them); reply Result.
//	controller → router   Sync         full state: API sessions, sessions, services (token hashes only;
//	                                    the router never learns a token before a client presents it),
//	                                    the public keys of signed (OIDC) access tokens, the revoked
//	                                    API sessions whose signed tokens are not yet expired, and the
//	                                    third-party CAs whose client certificates the router accepts.
//	controller → router   Events       incremental changes, in commit order, after the Sync.
//	router → controller   TerminatorCreate / TerminatorUpdate / TerminatorDelete (requests; the reply
//	                                    is a Result with the terminator id or an error message).
//	router → controller   APISessionHeartbeat {apiSessionIds[]}: the API sessions with a channel open
//	                                    on the router, sent as often as the Sync asks; the controller counts
//	                                    them as used, so connected clients do not time out. No reply.
//	either                Ping         keepalive (the reply is a Result).
//
// Bodies are JSON. Every message type below is fixed; new ones are appended.
package ctrlproto

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Content types of the control channel. They are far from the edge types
// (60783+) and the channel types (0–6).
const (
	TypeHello               int32 = 20001
	TypeSync                int32 = 20002
	TypeEvents              int32 = 20003
	TypeTerminatorCreate    int32 = 20004
	TypeTerminatorUpdate    int32 = 20005
	TypeTerminatorDelete    int32 = 20006
	TypePing                int32 = 20007
	TypeAPISessionHeartbeat int32 = 20008
)

// MaxBody bounds a control message body (a full Sync of a large network).
const MaxBody = 256 << 20

// TokenHash is how tokens travel and are looked up: hex SHA-256, the same
// hash the controller stores.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Hello is the router's first message.
type Hello struct {
	Version string `json:"version"`
	// Listeners are the edge addresses the router advertises to clients, by
	// protocol: {"tls": "tls://host:port"}. The controller hands them out in
	// sessions and /current-identity/edge-routers.
	Listeners   map[string]string `json:"listeners,omitempty"`
	Terminators []Terminator      `json:"terminators,omitempty"`
	// Link is the router's link listener (see mesh.go), nil when it only dials.
	Link *LinkListener `json:"link,omitempty"`
}

// APISession is what a router needs of an API session.
type APISession struct {
	ID               string   `json:"id"`
	IdentityID       string   `json:"identityId"`
	TokenHash        string   `json:"tokenHash"`
	CertFingerprints []string `json:"certFingerprints,omitempty"`
	// ExpiresAt is the end of the API session's lifetime, however busy it
	// is: the router then refuses its token and closes its channels, even
	// when the controller is out of reach. Zero: no end but its deletion.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// Session is what a router needs of a dial or bind session.
type Session struct {
	ID           string `json:"id"`
	APISessionID string `json:"apiSessionId"`
	IdentityID   string `json:"identityId"`
	ServiceID    string `json:"serviceId"`
	Type         string `json:"type"` // Dial or Bind
	TokenHash    string `json:"tokenHash"`
}

// Service is what a router needs of a service.
type Service struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	EncryptionRequired bool   `json:"encryptionRequired"`
	MaxIdleTimeMillis  int64  `json:"maxIdleTimeMillis,omitempty"`
	TerminatorStrategy string `json:"terminatorStrategy,omitempty"`
}

// Sync is the controller's full state for a router.
type Sync struct {
	RouterID string `json:"routerId"`
	Index    uint64 `json:"index"`
	// APISessionHeartbeatMillis is how often the router sends an
	// APISessionHeartbeat (0: never).
	APISessionHeartbeatMillis int64        `json:"apiSessionHeartbeatMillis,omitempty"`
	APISessions               []APISession `json:"apiSessions"`
	Sessions                  []Session    `json:"sessions"`
	Services                  []Service    `json:"services"`
	// Routers and Terminators describe the mesh (see mesh.go).
	Routers     []Router     `json:"routers,omitempty"`
	Terminators []Terminator `json:"terminators,omitempty"`
	// TokenKeys is the JWKS of the keys that sign OIDC access tokens
	// (internal/apitoken): the router verifies those tokens by their
	// signature, without the controller.
	TokenKeys json.RawMessage `json:"tokenKeys,omitempty"`
	// Revocations are the API sessions whose signed tokens must be refused.
	Revocations []Revocation `json:"revocations,omitempty"`
	// CAs are the third-party CAs the network trusts for client certificates.
	CAs []CA `json:"cas,omitempty"`
}

// CA is a third-party certificate authority registered with the controller, verified and
// enabled for authentication: the router accepts client certificates that chain to it besides
// those of the network's own CA. A CA that is deleted, or no longer verified or enabled, comes
// as a delete event.
type CA struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// CertPEM is the CA's certificate; the first certificate in it is the one trusted.
	CertPEM string `json:"certPem,omitempty"`
}

// Revocation is an ended API session whose signed access tokens may not
// have expired yet; the router refuses them until ExpiresAt.
type Revocation struct {
	APISessionID string    `json:"apiSessionId"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

// Event kinds.
const (
	EventUpsert = "upsert"
	EventDelete = "delete"
)

// Event is one change. Exactly one of the entity fields is set; on delete
// only its ID matters.
type Event struct {
	Kind       string      `json:"kind"`
	APISession *APISession `json:"apiSession,omitempty"`
	Session    *Session    `json:"session,omitempty"`
	Service    *Service    `json:"service,omitempty"`
	Router     *Router     `json:"router,omitempty"`
	Terminator *Terminator `json:"terminator,omitempty"`
	Revocation *Revocation `json:"revocation,omitempty"`
	CA         *CA         `json:"ca,omitempty"`
}

// Events is a batch of changes committed together, in order.
type Events struct {
	Index  uint64  `json:"index"`
	Events []Event `json:"events"`
}

// APISessionHeartbeat lists the API sessions that have a channel open on
// the router.
type APISessionHeartbeat struct {
	APISessionIDs []string `json:"apiSessionIds"`
}

// Terminator is a Bind registered by a router.
type Terminator struct {
	// ID is the controller's id (empty in a create).
	ID string `json:"id,omitempty"`
	// LocalID is the router's own id for the terminator.
	LocalID   string `json:"localId"`
	ServiceID string `json:"serviceId"`
	// RouterID is the router holding the terminator (set in Sync and Events).
	RouterID     string `json:"routerId,omitempty"`
	SessionID    string `json:"sessionId,omitempty"`
	APISessionID string `json:"apiSessionId,omitempty"`
	HostID       string `json:"hostId,omitempty"`
	Identity     string `json:"identity,omitempty"`
	Cost         uint16 `json:"cost"`
	Precedence   string `json:"precedence"`
	ListenerID   string `json:"listenerId,omitempty"`
}

// TerminatorCreated is the reply to TerminatorCreate, and to Hello for each
// terminator the router re-registered (by LocalID).
type TerminatorCreated struct {
	IDs map[string]string `json:"ids"` // local id → controller id
}

// Encode marshals a body.
func Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode control message: %w", err)
	}
	return b, nil
}

// Decode unmarshals a body, refusing oversized input.
func Decode(body []byte, v any) error {
	if len(body) > MaxBody {
		return fmt.Errorf("control message of %d bytes exceeds %d", len(body), MaxBody)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode control message: %w", err)
	}
	return nil
}
