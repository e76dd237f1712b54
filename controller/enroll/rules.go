package enroll

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// Errors of the enrollment rules.
var (
	// ErrInvalidToken means the token names no pending enrollment, or one of
	// another method than the client asked for.
	ErrInvalidToken = errors.New("invalid enrollment token")
	// ErrExpired means the enrollment's expiry has passed.
	ErrExpired = errors.New("enrollment expired")
)

// TokenKind is the kind under which enrollment tokens are derived from their
// enrollment (see auth.Deriver).
const TokenKind = "enrollment"

// TokenKey is what an enrollment's token is derived from: its id, and the
// nonce a refresh sets so that the refreshed enrollment gets a new token.
func TokenKey(e *store.Enrollment) string {
	if e.TokenNonce == "" {
		return e.ID
	}
	return e.ID + "/" + e.TokenNonce
}

// Check applies the rules a pending enrollment must pass to be used with
// method at now: the method must be the enrollment's and it must not have
// expired. A nil enrollment (an unknown token) fails with ErrInvalidToken.
func Check(e *store.Enrollment, method string, now time.Time) error {
	if e == nil {
		return ErrInvalidToken
	}
	if e.Method != method {
		return fmt.Errorf("%w: the token is for %s enrollment, not %s", ErrInvalidToken, e.Method, method)
	}
	if now.After(e.ExpiresAt) {
		return fmt.Errorf("%w at %s", ErrExpired, e.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// DefaultIdentityNameFormat names identities auto-enrolled through a CA that
// sets no identityNameFormat.
const DefaultIdentityNameFormat = "[caName]-[commonName]"

// MaxIdentityNameLength bounds the names IdentityName returns.
const MaxIdentityNameLength = 200

// NameValues are what the placeholders of an identityNameFormat stand for.
type NameValues struct {
	CAName, CAID, CommonName, RequestedName, IdentityID string
}

// IdentityName expands a CA's identityNameFormat: [caName], [caId],
// [commonName], [requestedName] and [identityId] are replaced by their
// values; other text is kept. An empty format means
// DefaultIdentityNameFormat. The result is trimmed and cut to
// MaxIdentityNameLength bytes (at a character boundary).
func IdentityName(format string, v NameValues) string {
	if strings.TrimSpace(format) == "" {
		format = DefaultIdentityNameFormat
	}
	name := strings.NewReplacer(
		"[caName]", v.CAName,
		"[caId]", v.CAID,
		"[commonName]", v.CommonName,
		"[requestedName]", v.RequestedName,
		"[identityId]", v.IdentityID,
	).Replace(format)
	name = strings.TrimSpace(name)
	if len(name) > MaxIdentityNameLength {
		cut := MaxIdentityNameLength
		for cut > 0 && !isRuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	return name
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
