package oidc

import (
	"net/http"
	"time"
)

// Backend is what the provider needs of the controller: the same sign-in
// as POST /authenticate, and the API sessions it opens. controller/api
// implements it; its errors that are *Error are answered as they are, and
// ErrSessionEnded as invalid_grant.
type Backend interface {
	// SignIn checks the credential r carries for method ("cert",
	// "password" or "ext-jwt") and opens an OIDC API session whose access
	// tokens live at most accessTokenLifetime. MFA may remain to be done
	// (Grant.MFAPending).
	SignIn(r *http.Request, method string, c Credentials, accessTokenLifetime time.Duration) (*Grant, error)
	// CompleteMFA checks a TOTP or recovery code for the API session's
	// pending MFA step and completes it.
	CompleteMFA(r *http.Request, apiSessionID, code string) error
	// Session reads an API session that may still be used, counting the
	// request as a use of it. When the session was opened with a
	// certificate, r must present one of that identity's certificates.
	Session(r *http.Request, apiSessionID string) (*Grant, error)
	// EndSession ends an API session (a logout or a revocation); ending
	// one that is gone already is no error.
	EndSession(r *http.Request, apiSessionID string) error
}

// Credentials are what a login posts besides the certificate or bearer JWT
// of its request.
type Credentials struct {
	Username    string
	Password    string
	ConfigTypes []string
	EnvInfo     map[string]string
	SDKInfo     map[string]string
}

// Grant is what a sign-in established: its API session and identity.
type Grant struct {
	APISessionID     string
	IdentityID       string
	IdentityName     string
	ExternalID       string
	IsAdmin          bool
	Method           string // cert, password or ext-jwt
	AuthenticatorID  string
	ConfigTypes      []string
	CertFingerprints []string
	CertExtendable   bool
	// MFAPending is set while a TOTP step remains; MFADone once it passed.
	MFAPending bool
	MFADone    bool
	// AccessTokenLifetime bounds the session's access tokens.
	AccessTokenLifetime time.Duration
	// AuthTime is when the session was opened.
	AuthTime time.Time
}
