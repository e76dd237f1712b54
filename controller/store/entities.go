package store

import "time"

// Meta is carried by every record: its id, wall-clock times stamped by the
// node that proposed the change, and the raft indexes of its creation and
// last modification.
type Meta struct {
	ID          string         `json:"id"`
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
	CreateIndex uint64         `json:"createIndex"`
	ModifyIndex uint64         `json:"modifyIndex"`
	Tags        map[string]any `json:"tags,omitempty"`
}

// Base returns the record's metadata; it makes every entity a Record.
func (m *Meta) Base() *Meta { return m }

// Identity is an enrolled (or enrolling) principal: a user, device or service.
type Identity struct {
	Meta
	Name                      string            `json:"name"`
	Type                      string            `json:"type"`
	IsAdmin                   bool              `json:"isAdmin"`
	IsDefaultAdmin            bool              `json:"isDefaultAdmin,omitempty"`
	RoleAttributes            []string          `json:"roleAttributes,omitempty"`
	AuthPolicyID              string            `json:"authPolicyId,omitempty"`
	ExternalID                string            `json:"externalId,omitempty"`
	DefaultHostingCost        uint16            `json:"defaultHostingCost"`
	DefaultHostingPrecedence  string            `json:"defaultHostingPrecedence,omitempty"`
	ServiceHostingCosts       map[string]uint16 `json:"serviceHostingCosts,omitempty"`
	ServiceHostingPrecedences map[string]string `json:"serviceHostingPrecedences,omitempty"`
	AppData                   map[string]any    `json:"appData,omitempty"`
	Disabled                  bool              `json:"disabled,omitempty"`
	DisabledAt                *time.Time        `json:"disabledAt,omitempty"`
	DisabledUntil             *time.Time        `json:"disabledUntil,omitempty"`
	EnvInfo                   map[string]any    `json:"envInfo,omitempty"`
	SDKInfo                   map[string]any    `json:"sdkInfo,omitempty"`
}

// IsDisabled reports whether the identity is disabled at t: disabled with no
// end, or with an end after t.
func (i *Identity) IsDisabled(t time.Time) bool {
	return i.Disabled && (i.DisabledUntil == nil || t.Before(*i.DisabledUntil))
}

// Identity types accepted by the management API.
const (
	IdentityTypeDefault = "Default"
	IdentityTypeUser    = "User"
	IdentityTypeDevice  = "Device"
	IdentityTypeService = "Service"
)

// Authenticator methods.
const (
	AuthenticatorCert = "cert"
	AuthenticatorUpdb = "updb"
)

// Authenticator proves an identity: a certificate (keyed by its SHA-1
// fingerprint) or a username with an argon2id password hash.
type Authenticator struct {
	Meta
	IdentityID   string `json:"identityId"`
	Method       string `json:"method"`
	Username     string `json:"username,omitempty"`
	PasswordHash string `json:"passwordHash,omitempty"`
	Fingerprint  string `json:"fingerprint,omitempty"`
	CertPEM      string `json:"certPem,omitempty"`
	// Pending extension: the new certificate that becomes current on verify.
	UnverifiedFingerprint string `json:"unverifiedFingerprint,omitempty"`
	UnverifiedCertPEM     string `json:"unverifiedCertPem,omitempty"`
}

// Enrollment methods.
const (
	EnrollmentOTT   = "ott"
	EnrollmentOTTCA = "ottca"
	EnrollmentUpdb  = "updb"
	EnrollmentERott = "erott"
)

// Enrollment is a pending one-time enrollment of an identity or router. The
// token itself is never stored: only its SHA-256 hash.
type Enrollment struct {
	Meta
	Method       string `json:"method"`
	IdentityID   string `json:"identityId,omitempty"`
	EdgeRouterID string `json:"edgeRouterId,omitempty"`
	TokenHash    string `json:"tokenHash"`
	// TokenNonce changes when the enrollment is refreshed, so that its token
	// (derived from id and nonce) changes too.
	TokenNonce string    `json:"tokenNonce,omitempty"`
	JWT        string    `json:"jwt,omitempty"`
	ExpiresAt  time.Time `json:"expiresAt"`
	CAID       string    `json:"caId,omitempty"`
	Username   string    `json:"username,omitempty"`
}

// ExternalIDClaim says where in a third-party certificate an identity's
// external id is found.
type ExternalIDClaim struct {
	Location        string `json:"location"`
	Matcher         string `json:"matcher"`
	MatcherCriteria string `json:"matcherCriteria"`
	Parser          string `json:"parser"`
	ParserCriteria  string `json:"parserCriteria"`
	Index           int64  `json:"index"`
}

// CA is a third-party certificate authority registered by an administrator.
type CA struct {
	Meta
	Name                      string           `json:"name"`
	CertPEM                   string           `json:"certPem"`
	Fingerprint               string           `json:"fingerprint"`
	IsVerified                bool             `json:"isVerified"`
	VerificationToken         string           `json:"verificationToken"`
	IsAutoCaEnrollmentEnabled bool             `json:"isAutoCaEnrollmentEnabled"`
	IsOttCaEnrollmentEnabled  bool             `json:"isOttCaEnrollmentEnabled"`
	IsAuthEnabled             bool             `json:"isAuthEnabled"`
	IdentityRoles             []string         `json:"identityRoles,omitempty"`
	IdentityNameFormat        string           `json:"identityNameFormat,omitempty"`
	ExternalIDClaim           *ExternalIDClaim `json:"externalIdClaim,omitempty"`
}

// Service is a named thing identities dial and bind.
type Service struct {
	Meta
	Name               string   `json:"name"`
	EncryptionRequired bool     `json:"encryptionRequired"`
	Configs            []string `json:"configs,omitempty"`
	RoleAttributes     []string `json:"roleAttributes,omitempty"`
	TerminatorStrategy string   `json:"terminatorStrategy,omitempty"`
	MaxIdleTimeMillis  int64    `json:"maxIdleTimeMillis,omitempty"`
}

// Config is a typed JSON document attached to services.
type Config struct {
	Meta
	Name         string         `json:"name"`
	ConfigTypeID string         `json:"configTypeId"`
	Data         map[string]any `json:"data"`
}

// ConfigType names a kind of config and the JSON schema its data must follow.
type ConfigType struct {
	Meta
	Name   string         `json:"name"`
	Schema map[string]any `json:"schema,omitempty"`
}

// Policy semantics and service-policy types.
const (
	SemanticAllOf = "AllOf"
	SemanticAnyOf = "AnyOf"
	PolicyDial    = "Dial"
	PolicyBind    = "Bind"
)

// ServicePolicy grants identities Dial or Bind on services, subject to posture checks.
type ServicePolicy struct {
	Meta
	Name              string   `json:"name"`
	Type              string   `json:"type"`
	Semantic          string   `json:"semantic"`
	IdentityRoles     []string `json:"identityRoles,omitempty"`
	ServiceRoles      []string `json:"serviceRoles,omitempty"`
	PostureCheckRoles []string `json:"postureCheckRoles,omitempty"`
}

// EdgeRouterPolicy grants identities the use of edge routers.
type EdgeRouterPolicy struct {
	Meta
	Name            string   `json:"name"`
	Semantic        string   `json:"semantic"`
	IdentityRoles   []string `json:"identityRoles,omitempty"`
	EdgeRouterRoles []string `json:"edgeRouterRoles,omitempty"`
}

// ServiceEdgeRouterPolicy allows edge routers to carry services.
type ServiceEdgeRouterPolicy struct {
	Meta
	Name            string   `json:"name"`
	Semantic        string   `json:"semantic"`
	ServiceRoles    []string `json:"serviceRoles,omitempty"`
	EdgeRouterRoles []string `json:"edgeRouterRoles,omitempty"`
}

// EdgeRouter is a data-plane router that clients connect to.
type EdgeRouter struct {
	Meta
	Name               string            `json:"name"`
	RoleAttributes     []string          `json:"roleAttributes,omitempty"`
	IsTunnelerEnabled  bool              `json:"isTunnelerEnabled"`
	Cost               uint16            `json:"cost"`
	NoTraversal        bool              `json:"noTraversal"`
	Disabled           bool              `json:"disabled"`
	AppData            map[string]any    `json:"appData,omitempty"`
	IsVerified         bool              `json:"isVerified"`
	Fingerprint        string            `json:"fingerprint,omitempty"`
	CertPEM            string            `json:"certPem,omitempty"`
	ServerFingerprint  string            `json:"serverFingerprint,omitempty"`
	Hostname           string            `json:"hostname,omitempty"`
	SupportedProtocols map[string]string `json:"supportedProtocols,omitempty"`
	// LinkAddress is where the router accepts links from other routers (empty: it only
	// dials), and LinkCost the static cost it adds to them; the router tells both.
	LinkAddress string `json:"linkAddress,omitempty"`
	LinkCost    uint16 `json:"linkCost,omitempty"`
}

// Terminator is where a service's circuits end: a Bind on a router.
type Terminator struct {
	Meta
	ServiceID  string `json:"serviceId"`
	RouterID   string `json:"routerId"`
	Binding    string `json:"binding"`
	Address    string `json:"address"`
	Identity   string `json:"identity,omitempty"`
	IdentityID string `json:"identityId,omitempty"`
	Cost       uint16 `json:"cost"`
	Precedence string `json:"precedence"`
}

// Posture check type ids.
const (
	PostureOS           = "OS"
	PostureProcess      = "PROCESS"
	PostureProcessMulti = "PROCESS_MULTI"
	PostureDomain       = "DOMAIN"
	PostureMAC          = "MAC"
	PostureMFA          = "MFA"
)

// OperatingSystem is an allowed OS type with the versions allowed for it.
type OperatingSystem struct {
	Type     string   `json:"type"`
	Versions []string `json:"versions,omitempty"`
}

// Process names a process that must run, optionally pinned by hash and signer.
type Process struct {
	OSType             string   `json:"osType"`
	Path               string   `json:"path"`
	Hashes             []string `json:"hashes,omitempty"`
	SignerFingerprints []string `json:"signerFingerprints,omitempty"`
}

// PostureCheck is a device-state requirement named by service policies.
type PostureCheck struct {
	Meta
	Name                  string            `json:"name"`
	TypeID                string            `json:"typeId"`
	RoleAttributes        []string          `json:"roleAttributes,omitempty"`
	OperatingSystems      []OperatingSystem `json:"operatingSystems,omitempty"`
	Process               *Process          `json:"process,omitempty"`
	Processes             []Process         `json:"processes,omitempty"`
	Semantic              string            `json:"semantic,omitempty"`
	Domains               []string          `json:"domains,omitempty"`
	MACAddresses          []string          `json:"macAddresses,omitempty"`
	TimeoutSeconds        int64             `json:"timeoutSeconds,omitempty"`
	PromptOnWake          bool              `json:"promptOnWake,omitempty"`
	PromptOnUnlock        bool              `json:"promptOnUnlock,omitempty"`
	IgnoreLegacyEndpoints bool              `json:"ignoreLegacyEndpoints,omitempty"`
}

// AuthPolicyPrimary lists the primary authentication methods an identity may use.
type AuthPolicyPrimary struct {
	CertAllowed            bool     `json:"certAllowed"`
	CertAllowExpired       bool     `json:"certAllowExpired"`
	UpdbAllowed            bool     `json:"updbAllowed"`
	MinPasswordLength      int64    `json:"minPasswordLength"`
	RequireSpecialChar     bool     `json:"requireSpecialChar"`
	RequireNumberChar      bool     `json:"requireNumberChar"`
	RequireMixedCase       bool     `json:"requireMixedCase"`
	MaxAttempts            int64    `json:"maxAttempts"`
	LockoutDurationMinutes int64    `json:"lockoutDurationMinutes"`
	ExtJWTAllowed          bool     `json:"extJwtAllowed"`
	ExtJWTAllowedSigners   []string `json:"extJwtAllowedSigners,omitempty"`
}

// AuthPolicySecondary lists the second factors an identity must present.
type AuthPolicySecondary struct {
	RequireTOTP         bool   `json:"requireTotp"`
	RequireExtJWTSigner string `json:"requireExtJwtSigner,omitempty"`
}

// AuthPolicy restricts how identities that name it may authenticate.
type AuthPolicy struct {
	Meta
	Name      string              `json:"name"`
	Primary   AuthPolicyPrimary   `json:"primary"`
	Secondary AuthPolicySecondary `json:"secondary"`
}

// ExternalJWTSigner is a trusted issuer of JWTs used for ext-jwt authentication.
type ExternalJWTSigner struct {
	Meta
	Name            string   `json:"name"`
	CertPEM         string   `json:"certPem,omitempty"`
	JWKSEndpoint    string   `json:"jwksEndpoint,omitempty"`
	Kid             string   `json:"kid,omitempty"`
	Fingerprint     string   `json:"fingerprint,omitempty"`
	Enabled         bool     `json:"enabled"`
	ExternalAuthURL string   `json:"externalAuthUrl,omitempty"`
	ClaimsProperty  string   `json:"claimsProperty,omitempty"`
	UseExternalID   bool     `json:"useExternalId"`
	Issuer          string   `json:"issuer"`
	Audience        string   `json:"audience"`
	ClientID        string   `json:"clientId,omitempty"`
	Scopes          []string `json:"scopes,omitempty"`
}

// APISession is an authenticated client session. Only the token's hash is kept.
type APISession struct {
	Meta
	IdentityID      string   `json:"identityId"`
	TokenHash       string   `json:"tokenHash"`
	AuthenticatorID string   `json:"authenticatorId,omitempty"`
	AuthMethod      string   `json:"authMethod,omitempty"`
	IPAddress       string   `json:"ipAddress,omitempty"`
	ConfigTypes     []string `json:"configTypes,omitempty"`
	IsMFARequired   bool     `json:"isMfaRequired"`
	IsMFAComplete   bool     `json:"isMfaComplete"`
	// CertExtendable is set for sessions opened with a certificate this
	// network issued: its holder may renew it (extend).
	CertExtendable   bool     `json:"certExtendable,omitempty"`
	CertFingerprints []string `json:"certFingerprints,omitempty"`
	// MFACompletedAt is when the session last passed a TOTP (or recovery
	// code) challenge; nil when it never did. MFA posture checks read it.
	MFACompletedAt *time.Time `json:"mfaCompletedAt,omitempty"`
	// OIDC marks a session signed in through OpenID Connect: its clients
	// hold signed access tokens naming it instead of a token whose hash is
	// kept (TokenHash is then a hash of nothing anyone holds).
	OIDC bool `json:"oidc,omitempty"`
	// AccessTokenLifetime bounds the access tokens issued for an OIDC
	// session; a revocation of the session lasts that long past its end.
	AccessTokenLifetime time.Duration `json:"accessTokenLifetime,omitempty"`
}

// Revocation records that the signed tokens of an API session, which
// routers verify on their own, are no longer good: it is written when an
// OIDC API session ends, for as long as one of its access tokens may still
// be unexpired, and is pushed to routers. Its id is the API session's.
type Revocation struct {
	Meta
	ExpiresAt time.Time `json:"expiresAt"`
}

// APISessionCert is a short-lived client certificate issued to an API
// session that was not authenticated by certificate (password, external
// JWT), so that it can present a certificate to routers. Its fingerprint is
// also listed in the session's CertFingerprints.
type APISessionCert struct {
	Meta
	APISessionID string    `json:"apiSessionId"`
	Fingerprint  string    `json:"fingerprint"`
	CertPEM      string    `json:"certPem"`
	Subject      string    `json:"subject,omitempty"`
	ValidFrom    time.Time `json:"validFrom"`
	ValidTo      time.Time `json:"validTo"`
}

// Posture response type ids that are not check types.
const (
	PostureEndpointState = "ENDPOINT_STATE"
)

// APISessionActivity is when an API session was last used anywhere in the
// cluster, as far as the nodes have reported (each node batches the uses it
// saw). Its id is the API session's id; it goes when the API session goes.
// It is kept apart from the API session so that reporting use does not
// change the API session itself, which routers are sent.
type APISessionActivity struct {
	Meta
	APISessionID   string    `json:"apiSessionId"`
	LastActivityAt time.Time `json:"lastActivityAt"`
	// LastRouterReportAt is when a router last reported a channel of the
	// API session open (zero: never).
	LastRouterReportAt time.Time `json:"lastRouterReportAt,omitzero"`
}

// PostureData is the device state an API session reported through posture
// responses. Its id is the API session's id; it goes when the API session
// goes. Each fact carries the time it was reported.
type PostureData struct {
	Meta
	APISessionID string               `json:"apiSessionId"`
	OS           *PostureOSData       `json:"os,omitempty"`
	Domain       *PostureDomainData   `json:"domain,omitempty"`
	MAC          *PostureMACData      `json:"mac,omitempty"`
	Processes    []PostureProcessData `json:"processes,omitempty"`
	// WokenAt and UnlockedAt are the last ENDPOINT_STATE reports of the
	// device waking up or being unlocked.
	WokenAt    *time.Time `json:"wokenAt,omitempty"`
	UnlockedAt *time.Time `json:"unlockedAt,omitempty"`
}

// PostureOSData is a reported operating system.
type PostureOSData struct {
	Type       string    `json:"type"`
	Version    string    `json:"version"`
	Build      string    `json:"build,omitempty"`
	ReportedAt time.Time `json:"reportedAt"`
}

// PostureDomainData is a reported Windows domain.
type PostureDomainData struct {
	Domain     string    `json:"domain"`
	ReportedAt time.Time `json:"reportedAt"`
}

// PostureMACData lists the reported MAC addresses of the device.
type PostureMACData struct {
	Addresses  []string  `json:"addresses"`
	ReportedAt time.Time `json:"reportedAt"`
}

// PostureProcessData is the reported state of one process, by path.
type PostureProcessData struct {
	Path               string    `json:"path"`
	IsRunning          bool      `json:"isRunning"`
	Hash               string    `json:"hash,omitempty"`
	SignerFingerprints []string  `json:"signerFingerprints,omitempty"`
	ReportedAt         time.Time `json:"reportedAt"`
}

// RouterPresence says that an edge router holds a control channel to a
// controller node. The node renews it before LeaseUntil; a node that stops
// (or loses the cluster) lets it lapse. Its id is the router's.
type RouterPresence struct {
	Meta
	NodeID     string    `json:"nodeId"`
	Since      time.Time `json:"since"`
	LeaseUntil time.Time `json:"leaseUntil"`
}

// Session lets an API session dial or bind one service.
type Session struct {
	Meta
	APISessionID string `json:"apiSessionId"`
	IdentityID   string `json:"identityId"`
	ServiceID    string `json:"serviceId"`
	Type         string `json:"type"`
	TokenHash    string `json:"tokenHash"`
}

// MFA is an identity's TOTP enrollment. The TOTP secret is kept only sealed
// (encrypted with a key derived from the controller CA); recovery codes are
// kept as keyed hashes for checking, and sealed so their owner can view the
// ones left. A used recovery code is removed from both.
type MFA struct {
	Meta
	IdentityID   string `json:"identityId"`
	IsVerified   bool   `json:"isVerified"`
	SecretSealed string `json:"secretSealed"`
	// RecoveryCodeHashes are HMAC-SHA256 digests of the unused recovery codes.
	RecoveryCodeHashes []string `json:"recoveryCodeHashes,omitempty"`
	// RecoveryCodesSealed is the sealed JSON list of the unused recovery codes.
	RecoveryCodesSealed string `json:"recoveryCodesSealed,omitempty"`
	// LastTOTPStep is the RFC 6238 time step (Unix time / period) of the
	// last TOTP code accepted; a code of this step or an earlier one is
	// refused, so that every code is taken once. Zero: none taken yet.
	LastTOTPStep int64 `json:"lastTotpStep,omitempty"`
}

// Authentication event types, as the management API names them.
const (
	AuthEventPasswordSuccess = "password-success"
	AuthEventPasswordFailure = "password-failure"
	AuthEventCertSuccess     = "cert-success"
	AuthEventCertFailure     = "cert-failure"
	AuthEventExtJWTSuccess   = "ext-jwt-success"
	AuthEventExtJWTFailure   = "ext-jwt-failure"
	AuthEventMFASuccess      = "mfa-success"
	AuthEventMFAFailure      = "mfa-failure"
	AuthEventLocked          = "locked"
)

// AuthEvent records one authentication attempt, or a lock it caused. It names
// its identity without a foreign key: the audit trail outlives identities.
type AuthEvent struct {
	Meta
	IdentityID    string `json:"identityId,omitempty"`
	EventType     string `json:"eventType"`
	SourceAddress string `json:"sourceAddress"`
	Reason        string `json:"reason,omitempty"`
}

// AuthLock counts the failed authentications of one identity from one source
// and, past a threshold, locks that pair out until LockedUntil. LockCount is
// how many locks were placed since the counter was last reset; each lock
// lasts twice as long as the one before, up to a maximum.
type AuthLock struct {
	Meta
	IdentityID    string    `json:"identityId"`
	Source        string    `json:"source"`
	Failures      int64     `json:"failures"`
	LockedUntil   time.Time `json:"lockedUntil"`
	LockCount     int64     `json:"lockCount"`
	LastFailureAt time.Time `json:"lastFailureAt"`
}

// Locked reports whether the lock holds at t.
func (l *AuthLock) Locked(t time.Time) bool { return t.Before(l.LockedUntil) }

// PasswordFailureCount counts the consecutive failed password logins of one
// identity, from any source, against the maxAttempts of its auth policy. A
// successful login removes it, and so does the disabling it leads to.
type PasswordFailureCount struct {
	Meta
	IdentityID    string    `json:"identityId"`
	Failures      int64     `json:"failures"`
	LastFailureAt time.Time `json:"lastFailureAt"`
}

// JoinToken lets one controller join the cluster: whoever presents its
// secret before ExpiresAt receives the network's signing CA. Only a hash of
// the secret is kept, and the token is deleted when used.
type JoinToken struct {
	Meta
	SecretHash string    `json:"secretHash"`
	ExpiresAt  time.Time `json:"expiresAt"`
	CreatedBy  string    `json:"createdBy,omitempty"`
}

// Audit actions: what a management write did to a record.
const (
	AuditCreate = "create"
	AuditUpdate = "update"
	AuditDelete = "delete"
)

// Actor types: who made a management write.
const (
	ActorIdentity = "identity"
	ActorAPIToken = "api-token"
)

// AuditEvent records one record created, updated or deleted by a management
// write: who did it (the actor), from where, and when. It is written in the
// same transaction as the change it records, so the trail is replicated,
// snapshotted and restored with the state and cannot disagree with it. Like
// AuthEvent it names its entity and actor without foreign keys: the trail
// outlives them.
type AuditEvent struct {
	Meta
	Action     string `json:"action"`
	EntityType string `json:"entityType"`
	EntityID   string `json:"entityId"`
	// ActorType is ActorIdentity or ActorAPIToken; ActorID and ActorName
	// name it as it was at the time.
	ActorType     string `json:"actorType"`
	ActorID       string `json:"actorId"`
	ActorName     string `json:"actorName,omitempty"`
	SourceAddress string `json:"sourceAddress,omitempty"`
	// RequestID is the API request that made the write, when known.
	RequestID string `json:"requestId,omitempty"`
}

// API token roles.
const (
	APITokenAdmin    = "admin"
	APITokenReadOnly = "read-only"
)

// APIToken lets automation use the management API without signing in: an
// admin token may do what an administrator may, a read-only one may only
// read. Only a hash of its secret is kept. Deleting it revokes it.
type APIToken struct {
	Meta
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	SecretHash string    `json:"secretHash"`
	ExpiresAt  time.Time `json:"expiresAt"`
	// CreatedByType is "identity" or "api-token" (a token made with a token);
	// CreatedByID and CreatedByName name the maker as it was then.
	CreatedByType string `json:"createdByType"`
	CreatedByID   string `json:"createdById"`
	CreatedByName string `json:"createdByName,omitempty"`
	// LastUsedAt is the latest use the controllers recorded (in batches).
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
}

// ReadOnly reports whether the token may only read.
func (t *APIToken) ReadOnly() bool { return t.Role != APITokenAdmin }

// Expired reports whether the token has expired at now.
func (t *APIToken) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }
