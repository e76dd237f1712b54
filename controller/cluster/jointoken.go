package cluster

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
)

// A join token lets one new controller join the cluster without a copy of
// another member's files. It names a member's API address, pins the
// network's root CA by its SHA-256 fingerprint (so the new controller
// trusts nothing it was not told to) and carries a one-time secret that the
// member exchanges for the signing CA.

// joinTokenPrefix starts every join token, so that one is recognised when
// pasted in the wrong place.
const joinTokenPrefix = "ostium-join-v1."

// maxJoinToken bounds a token's length before it is decoded.
const maxJoinToken = 2048

// JoinToken is a decoded join token.
type JoinToken struct {
	// APIAddress is host:port of the member's API.
	APIAddress string `json:"api"`
	// RootFingerprint is the hex SHA-256 of the network's root CA certificate.
	RootFingerprint string `json:"ca"`
	// ID names the token's record; Secret is what proves it.
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// ErrBadJoinToken is returned for anything that is not a well-formed token.
var ErrBadJoinToken = errors.New("not a join token (it starts with " + joinTokenPrefix + ")")

// String encodes the token.
func (t JoinToken) String() string {
	b, _ := json.Marshal(t)
	return joinTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseJoinToken decodes and checks a token.
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxJoinToken || !strings.HasPrefix(s, joinTokenPrefix) {
		return JoinToken{}, ErrBadJoinToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(s[len(joinTokenPrefix):])
	if err != nil {
		return JoinToken{}, fmt.Errorf("%w: %v", ErrBadJoinToken, err)
	}
	var t JoinToken
	if err := json.Unmarshal(raw, &t); err != nil {
		return JoinToken{}, fmt.Errorf("%w: %v", ErrBadJoinToken, err)
	}
	if _, _, err := net.SplitHostPort(t.APIAddress); err != nil || t.APIAddress == "" {
		return JoinToken{}, fmt.Errorf("%w: the API address %q is not host:port", ErrBadJoinToken, t.APIAddress)
	}
	if fp, err := hex.DecodeString(t.RootFingerprint); err != nil || len(fp) != 32 {
		return JoinToken{}, fmt.Errorf("%w: the CA fingerprint is not a SHA-256", ErrBadJoinToken)
	}
	if t.ID == "" || len(t.ID) > 128 || len(t.Secret) < 32 || len(t.Secret) > 256 {
		return JoinToken{}, fmt.Errorf("%w: its id or secret is missing", ErrBadJoinToken)
	}
	return t, nil
}
