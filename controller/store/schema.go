package store

// The schema: every kind of record, with its unique indexes, foreign keys
// and role attributes, is declared once here. Buckets are derived from these
// declarations; nothing else in the store names a bucket.

// OnDelete says what happens to records that reference a deleted record.
type OnDelete int

const (
	// Restrict refuses to delete a record that others still reference.
	Restrict OnDelete = iota
	// Cascade deletes the referencing records too.
	Cascade
)

// UniqueIndex maps a value (a name, a fingerprint, a token hash) to the one
// record that holds it. Empty values are not indexed.
type UniqueIndex struct {
	Name   string
	Values func(Record) []string
}

// ForeignKey declares that Field of this kind holds ids of Target records.
type ForeignKey struct {
	Field    string
	Target   *Kind
	Values   func(Record) []string
	OnDelete OnDelete
}

// Kind describes one kind of record.
type Kind struct {
	// Name is the bucket name and the name used in errors and commands.
	Name string
	// New returns an empty record of this kind, for decoding.
	New func() Record
	// Unique lists the unique indexes.
	Unique []UniqueIndex
	// Refs lists the foreign keys.
	Refs []ForeignKey
	// Attributes returns the role attributes of a record, when the kind has them.
	Attributes func(Record) []string

	referencedBy []*ForeignKeyOf
}

// ForeignKeyOf is a foreign key seen from its target.
type ForeignKeyOf struct {
	Source *Kind
	Key    *ForeignKey
}

// Record is any stored entity.
type Record interface {
	Base() *Meta
}

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// The kinds. Order matters only for readability.
var (
	Identities = &Kind{Name: "identities", New: func() Record { return &Identity{} },
		Unique:     []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*Identity).Name) }}},
		Attributes: func(r Record) []string { return r.(*Identity).RoleAttributes },
	}
	AuthPolicies = &Kind{Name: "auth-policies", New: func() Record { return &AuthPolicy{} },
		Unique: []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*AuthPolicy).Name) }}},
	}
	Authenticators = &Kind{Name: "authenticators", New: func() Record { return &Authenticator{} },
		Unique: []UniqueIndex{
			{Name: "fingerprint", Values: func(r Record) []string {
				a := r.(*Authenticator)
				out := one(a.Fingerprint)
				if a.UnverifiedFingerprint != "" {
					out = append(out, a.UnverifiedFingerprint)
				}
				return out
			}},
			{Name: "username", Values: func(r Record) []string { return one(r.(*Authenticator).Username) }},
		},
	}
	CAs = &Kind{Name: "cas", New: func() Record { return &CA{} },
		Unique: []UniqueIndex{
			{Name: "name", Values: func(r Record) []string { return one(r.(*CA).Name) }},
			{Name: "fingerprint", Values: func(r Record) []string { return one(r.(*CA).Fingerprint) }},
		},
	}
	EdgeRouters = &Kind{Name: "edge-routers", New: func() Record { return &EdgeRouter{} },
		Unique: []UniqueIndex{
			{Name: "name", Values: func(r Record) []string { return one(r.(*EdgeRouter).Name) }},
			{Name: "fingerprint", Values: func(r Record) []string { return one(r.(*EdgeRouter).Fingerprint) }},
		},
		Attributes: func(r Record) []string { return r.(*EdgeRouter).RoleAttributes },
	}
	Enrollments = &Kind{Name: "enrollments", New: func() Record { return &Enrollment{} },
		Unique: []UniqueIndex{{Name: "token", Values: func(r Record) []string { return one(r.(*Enrollment).TokenHash) }}},
	}
	ConfigTypes = &Kind{Name: "config-types", New: func() Record { return &ConfigType{} },
		Unique: []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*ConfigType).Name) }}},
	}
	Configs = &Kind{Name: "configs", New: func() Record { return &Config{} },
		Unique: []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*Config).Name) }}},
	}
	Services = &Kind{Name: "services", New: func() Record { return &Service{} },
		Unique:     []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*Service).Name) }}},
		Attributes: func(r Record) []string { return r.(*Service).RoleAttributes },
	}
	PostureChecks = &Kind{Name: "posture-checks", New: func() Record { return &PostureCheck{} },
		Unique:     []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*PostureCheck).Name) }}},
		Attributes: func(r Record) []string { return r.(*PostureCheck).RoleAttributes },
	}
	ServicePolicies = &Kind{Name: "service-policies", New: func() Record { return &ServicePolicy{} },
		Unique: []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*ServicePolicy).Name) }}},
	}
	EdgeRouterPolicies = &Kind{Name: "edge-router-policies", New: func() Record { return &EdgeRouterPolicy{} },
		Unique: []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*EdgeRouterPolicy).Name) }}},
	}
	ServiceEdgeRouterPolicies = &Kind{Name: "service-edge-router-policies", New: func() Record { return &ServiceEdgeRouterPolicy{} },
		Unique: []UniqueIndex{{Name: "name", Values: func(r Record) []string { return one(r.(*ServiceEdgeRouterPolicy).Name) }}},
	}
	Terminators        = &Kind{Name: "terminators", New: func() Record { return &Terminator{} }}
	ExternalJWTSigners = &Kind{Name: "external-jwt-signers", New: func() Record { return &ExternalJWTSigner{} },
		Unique: []UniqueIndex{
			{Name: "name", Values: func(r Record) []string { return one(r.(*ExternalJWTSigner).Name) }},
			{Name: "kid", Values: func(r Record) []string { return one(r.(*ExternalJWTSigner).Kid) }},
		},
	}
	APISessions = &Kind{Name: "api-sessions", New: func() Record { return &APISession{} },
		Unique: []UniqueIndex{{Name: "token", Values: func(r Record) []string { return one(r.(*APISession).TokenHash) }}},
	}
	APISessionCerts = &Kind{Name: "api-session-certs", New: func() Record { return &APISessionCert{} },
		Unique: []UniqueIndex{{Name: "fingerprint", Values: func(r Record) []string { return one(r.(*APISessionCert).Fingerprint) }}},
	}
	MFAs = &Kind{Name: "mfas", New: func() Record { return &MFA{} },
		Unique: []UniqueIndex{{Name: "identity", Values: func(r Record) []string { return one(r.(*MFA).IdentityID) }}},
	}
	AuthEvents = &Kind{Name: "auth-events", New: func() Record { return &AuthEvent{} }}
	AuthLocks  = &Kind{Name: "auth-locks", New: func() Record { return &AuthLock{} },
		Unique: []UniqueIndex{{Name: "identitySource", Values: func(r Record) []string {
			l := r.(*AuthLock)
			return []string{AuthLockKey(l.IdentityID, l.Source)}
		}}},
	}
	PasswordFailures = &Kind{Name: "password-failures", New: func() Record { return &PasswordFailureCount{} },
		Unique: []UniqueIndex{{Name: "identity", Values: func(r Record) []string { return one(r.(*PasswordFailureCount).IdentityID) }}},
	}
	PostureDatas = &Kind{Name: "posture-data", New: func() Record { return &PostureData{} },
		Unique: []UniqueIndex{{Name: "apiSession", Values: func(r Record) []string { return one(r.(*PostureData).APISessionID) }}},
	}
	APISessionActivities = &Kind{Name: "api-session-activity", New: func() Record { return &APISessionActivity{} },
		Unique: []UniqueIndex{{Name: "apiSession", Values: func(r Record) []string { return one(r.(*APISessionActivity).APISessionID) }}},
	}
	RouterPresences = &Kind{Name: "router-presence", New: func() Record { return &RouterPresence{} }}
	Sessions        = &Kind{Name: "sessions", New: func() Record { return &Session{} },
		Unique: []UniqueIndex{
			{Name: "token", Values: func(r Record) []string { return one(r.(*Session).TokenHash) }},
			// One session per (API session, service, type): creation is idempotent.
			{Name: "apiSessionServiceType", Values: func(r Record) []string {
				s := r.(*Session)
				return []string{s.APISessionID + "|" + s.ServiceID + "|" + s.Type}
			}},
		},
	}
	// Revocations are keyed by the id of the API session they revoke.
	Revocations = &Kind{Name: "revocations", New: func() Record { return &Revocation{} }}
	// JoinTokens are the unused tokens that let a controller join.
	JoinTokens = &Kind{Name: "join-tokens", New: func() Record { return &JoinToken{} }}
	// AuditEvents are keyed so that id order is the order of the writes
	// (see command.Audited).
	AuditEvents = &Kind{Name: "audit-events", New: func() Record { return &AuditEvent{} }}
	// APITokens are the tokens automation uses on the management API.
	APITokens = &Kind{Name: "api-tokens", New: func() Record { return &APIToken{} }}
)

// AllKinds lists every kind; the store creates their buckets on open.
var AllKinds = []*Kind{
	Identities, AuthPolicies, Authenticators, CAs, EdgeRouters, Enrollments, ConfigTypes, Configs,
	Services, PostureChecks, ServicePolicies, EdgeRouterPolicies, ServiceEdgeRouterPolicies,
	Terminators, ExternalJWTSigners, APISessions, Sessions, MFAs, AuthEvents, AuthLocks, APISessionCerts,
	PostureDatas, PasswordFailures, APISessionActivities, RouterPresences, Revocations,
	JoinTokens, AuditEvents, APITokens,
}

// AllSources is the Source of the failure counter of an identity from every
// address together.
const AllSources = "*"

// AuthLockKey is the value of the AuthLocks "identitySource" index: one
// counter per identity and source address.
func AuthLockKey(identityID, source string) string { return identityID + "|" + source }

// KindByName finds a kind by its name.
func KindByName(name string) (*Kind, bool) {
	for _, k := range AllKinds {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

func init() {
	// Foreign keys are declared after all kinds exist, since they point at each other.
	Identities.Refs = []ForeignKey{
		{Field: "authPolicyId", Target: AuthPolicies, OnDelete: Restrict, Values: func(r Record) []string { return one(r.(*Identity).AuthPolicyID) }},
	}
	Authenticators.Refs = []ForeignKey{
		{Field: "identityId", Target: Identities, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*Authenticator).IdentityID) }},
	}
	Enrollments.Refs = []ForeignKey{
		{Field: "identityId", Target: Identities, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*Enrollment).IdentityID) }},
		{Field: "edgeRouterId", Target: EdgeRouters, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*Enrollment).EdgeRouterID) }},
		{Field: "caId", Target: CAs, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*Enrollment).CAID) }},
	}
	Configs.Refs = []ForeignKey{
		{Field: "configTypeId", Target: ConfigTypes, OnDelete: Restrict, Values: func(r Record) []string { return one(r.(*Config).ConfigTypeID) }},
	}
	Services.Refs = []ForeignKey{
		{Field: "configs", Target: Configs, OnDelete: Restrict, Values: func(r Record) []string { return r.(*Service).Configs }},
	}
	Terminators.Refs = []ForeignKey{
		{Field: "serviceId", Target: Services, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*Terminator).ServiceID) }},
		{Field: "routerId", Target: EdgeRouters, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*Terminator).RouterID) }},
	}
	APISessions.Refs = []ForeignKey{
		{Field: "identityId", Target: Identities, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*APISession).IdentityID) }},
	}
	Sessions.Refs = []ForeignKey{
		{Field: "apiSessionId", Target: APISessions, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*Session).APISessionID) }},
		{Field: "serviceId", Target: Services, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*Session).ServiceID) }},
	}
	APISessionCerts.Refs = []ForeignKey{
		{Field: "apiSessionId", Target: APISessions, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*APISessionCert).APISessionID) }},
	}
	PostureDatas.Refs = []ForeignKey{
		{Field: "apiSessionId", Target: APISessions, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*PostureData).APISessionID) }},
	}
	APISessionActivities.Refs = []ForeignKey{
		{Field: "apiSessionId", Target: APISessions, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*APISessionActivity).APISessionID) }},
	}
	RouterPresences.Refs = []ForeignKey{
		{Field: "id", Target: EdgeRouters, OnDelete: Cascade, Values: func(r Record) []string { return one(r.Base().ID) }},
	}
	MFAs.Refs = []ForeignKey{
		{Field: "identityId", Target: Identities, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*MFA).IdentityID) }},
	}
	AuthLocks.Refs = []ForeignKey{
		{Field: "identityId", Target: Identities, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*AuthLock).IdentityID) }},
	}
	PasswordFailures.Refs = []ForeignKey{
		{Field: "identityId", Target: Identities, OnDelete: Cascade, Values: func(r Record) []string { return one(r.(*PasswordFailureCount).IdentityID) }},
	}
	for _, k := range AllKinds {
		for i := range k.Refs {
			fk := &k.Refs[i]
			fk.Target.referencedBy = append(fk.Target.referencedBy, &ForeignKeyOf{Source: k, Key: fk})
		}
	}
}
