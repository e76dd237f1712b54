package ctrlclient

import (
	"crypto/x509"
	"encoding/pem"
	"slices"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ostium-net/ostium/internal/apitoken"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/router/edge"
)

// cache is the router's copy of the controller state it needs. Readers hold the read lock only
// for map lookups; writers build a Sync outside the lock and hold the write lock only to swap
// maps or apply one batch of events, never across I/O.
type cache struct {
	mu sync.RWMutex
	// apiSessions and sessions are keyed by token hash; the byID maps lead from an id to the
	// token hash it is filed under.
	apiSessions    map[string]ctrlproto.APISession
	apiSessionHash map[string]string
	sessions       map[string]ctrlproto.Session
	sessionHash    map[string]string
	services       map[string]ctrlproto.Service
	// tokenKeys verify signed (OIDC) access tokens; revocations are the API sessions whose
	// signed tokens are refused until the time given, pruned once the map doubles.
	tokenKeys jwk.Set
	// tokenKeysRaw is the JWKS tokenKeys was parsed from, kept for the saved state.
	tokenKeysRaw []byte
	revocations  map[string]time.Time
	prunedAt     int
	// verified remembers the claims of signed tokens whose signature checked out with the
	// current keys, so that a client's reconnects and token updates cost a map lookup.
	verifiedMu sync.Mutex
	verified   map[string]*apitoken.Claims
	// cas are the trusted third-party CAs by id, and caPool holds them all (nil when there
	// are none); the pool is rebuilt, never changed, so a reader may keep it.
	cas    map[string]*x509.Certificate
	caPool *x509.CertPool
	// index is the controller index of the last Sync or Events batch applied.
	index uint64
	// synced is true once a Sync was applied.
	synced bool
	// changed is closed, and replaced, whenever a Sync or a batch of events is applied.
	changed chan struct{}
}

func newCache() *cache {
	return &cache{
		apiSessions:    map[string]ctrlproto.APISession{},
		apiSessionHash: map[string]string{},
		sessions:       map[string]ctrlproto.Session{},
		sessionHash:    map[string]string{},
		services:       map[string]ctrlproto.Service{},
		revocations:    map[string]time.Time{},
		cas:            map[string]*x509.Certificate{},
		changed:        make(chan struct{}),
	}
}

// updates returns a channel closed at the next Sync or batch of events applied.
func (c *cache) updates() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.changed
}

// announceLocked wakes whoever waits for a change; the caller holds the write lock.
func (c *cache) announceLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// removals lists the ids a change removed.
type removals struct {
	apiSessions []string
	sessions    []string
	// cas is true when a third-party CA stopped being trusted.
	cas bool
}

// thirdPartyCAs returns the pool of the trusted third-party CAs, nil when there are none.
func (c *cache) thirdPartyCAs() *x509.CertPool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.caPool
}

// parseCA reads the certificate the controller trusts in a CA: the first in its PEM. A CA
// whose PEM holds none is left out (the controller would not trust it either).
func parseCA(ca ctrlproto.CA) (*x509.Certificate, bool) {
	rest := []byte(ca.CertPEM)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, false
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, false
		}
		return cert, true
	}
}

// poolOf builds the pool of the CAs, nil when there are none.
func poolOf(cas map[string]*x509.Certificate) *x509.CertPool {
	if len(cas) == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	for _, cert := range cas {
		pool.AddCert(cert)
	}
	return pool
}

func (c *cache) apiSession(token string) (edge.APISession, bool) {
	if apitoken.LooksLikeJWT(token) {
		return c.signedAPISession(token, time.Now())
	}
	hash := ctrlproto.TokenHash(token)
	c.mu.RLock()
	s, ok := c.apiSessions[hash]
	c.mu.RUnlock()
	if !ok || (!s.ExpiresAt.IsZero() && !time.Now().Before(s.ExpiresAt)) {
		return edge.APISession{}, false
	}
	return edge.APISession{
		ID:               s.ID,
		IdentityID:       s.IdentityID,
		CertFingerprints: append([]string(nil), s.CertFingerprints...),
	}, true
}

// signedAPISession accepts an access token of an OIDC sign-in by its signature alone, so that
// clients keep connecting while the controller is away; an API session the controller revoked
// is refused. The certificates the client may present are those the token names and those the
// pushed state adds (API-session certificates made later).
func (c *cache) signedAPISession(token string, now time.Time) (edge.APISession, bool) {
	claims, ok := c.verifiedClaims(token, now)
	if !ok {
		return edge.APISession{}, false
	}
	c.mu.RLock()
	until, revoked := c.revocations[claims.APISessionID]
	held, known := c.apiSessions[c.apiSessionHash[claims.APISessionID]]
	c.mu.RUnlock()
	if revoked && now.Before(until) {
		return edge.APISession{}, false
	}
	fps := append([]string(nil), claims.CertFingerprints...)
	if known && held.ID == claims.APISessionID && held.IdentityID == claims.Subject {
		for _, fp := range held.CertFingerprints {
			if !slices.Contains(fps, fp) {
				fps = append(fps, fp)
			}
		}
	}
	return edge.APISession{ID: claims.APISessionID, IdentityID: claims.Subject, CertFingerprints: fps, ExpiresAt: claims.Expiry()}, true
}

// maxVerified bounds the remembered signed tokens; the memory is dropped whole when full.
const maxVerified = 4096

// verifiedClaims checks a signed access token with the current keys, remembering what
// verified until the token expires.
func (c *cache) verifiedClaims(token string, now time.Time) (*apitoken.Claims, bool) {
	c.verifiedMu.Lock()
	claims, seen := c.verified[token]
	c.verifiedMu.Unlock()
	if seen {
		return claims, claims.Check(apitoken.TypeAccess, apitoken.Audience, now) == nil
	}
	c.mu.RLock()
	keys := c.tokenKeys
	c.mu.RUnlock()
	if keys == nil {
		return nil, false
	}
	claims, err := apitoken.Verify(keys, token, apitoken.TypeAccess, apitoken.Audience, now)
	if err != nil {
		return nil, false
	}
	c.verifiedMu.Lock()
	if c.verified == nil || len(c.verified) >= maxVerified {
		c.verified = make(map[string]*apitoken.Claims, 64)
	}
	// Only tokens of the keys still current are remembered.
	c.mu.RLock()
	if c.tokenKeys == keys {
		c.verified[token] = claims
	}
	c.mu.RUnlock()
	c.verifiedMu.Unlock()
	return claims, true
}

func (c *cache) session(token string) (edge.Session, bool) {
	hash := ctrlproto.TokenHash(token)
	c.mu.RLock()
	s, ok := c.sessions[hash]
	svc := c.services[s.ServiceID]
	c.mu.RUnlock()
	if !ok {
		return edge.Session{}, false
	}
	return edge.Session{
		ID:                        s.ID,
		APISessionID:              s.APISessionID,
		ServiceID:                 s.ServiceID,
		Type:                      s.Type,
		ServiceEncryptionRequired: svc.EncryptionRequired,
		ServiceMaxIdleTime:        time.Duration(svc.MaxIdleTimeMillis) * time.Millisecond,
		ServiceTerminatorStrategy: svc.TerminatorStrategy,
	}, true
}

// applySync replaces the whole state and reports what the previous state held that the new one
// does not.
func (c *cache) applySync(s *ctrlproto.Sync) removals {
	apiSessions := make(map[string]ctrlproto.APISession, len(s.APISessions))
	apiSessionHash := make(map[string]string, len(s.APISessions))
	for _, a := range s.APISessions {
		if old, dup := apiSessionHash[a.ID]; dup {
			delete(apiSessions, old)
		}
		apiSessions[a.TokenHash] = a
		apiSessionHash[a.ID] = a.TokenHash
	}
	sessions := make(map[string]ctrlproto.Session, len(s.Sessions))
	sessionHash := make(map[string]string, len(s.Sessions))
	for _, x := range s.Sessions {
		if old, dup := sessionHash[x.ID]; dup {
			delete(sessions, old)
		}
		sessions[x.TokenHash] = x
		sessionHash[x.ID] = x.TokenHash
	}
	services := make(map[string]ctrlproto.Service, len(s.Services))
	for _, svc := range s.Services {
		services[svc.ID] = svc
	}
	var keys jwk.Set
	if len(s.TokenKeys) > 0 {
		var err error
		if keys, err = apitoken.ParseKeySet(s.TokenKeys); err != nil {
			keys = nil // signed tokens are refused until a Sync brings usable keys
		}
	}
	cas := make(map[string]*x509.Certificate, len(s.CAs))
	for _, ca := range s.CAs {
		if cert, ok := parseCA(ca); ok {
			cas[ca.ID] = cert
		}
	}
	caPool := poolOf(cas)
	now := time.Now()
	revocations := make(map[string]time.Time, len(s.Revocations))
	for _, r := range s.Revocations {
		if now.Before(r.ExpiresAt) {
			revocations[r.APISessionID] = r.ExpiresAt
		}
	}

	c.mu.Lock()
	var gone removals
	for id := range c.apiSessionHash {
		if _, kept := apiSessionHash[id]; !kept {
			gone.apiSessions = append(gone.apiSessions, id)
		}
	}
	for id := range c.sessionHash {
		if _, kept := sessionHash[id]; !kept {
			gone.sessions = append(gone.sessions, id)
		}
	}
	// Channels of revoked sessions close too: the router may have accepted their tokens
	// while it could not hear of the revocation.
	for id := range revocations {
		if _, held := c.revocations[id]; !held {
			gone.apiSessions = append(gone.apiSessions, id)
		}
	}
	for id, old := range c.cas {
		if cert, kept := cas[id]; !kept || !cert.Equal(old) {
			gone.cas = true
		}
	}
	c.cas, c.caPool = cas, caPool
	c.apiSessions, c.apiSessionHash = apiSessions, apiSessionHash
	c.sessions, c.sessionHash = sessions, sessionHash
	c.services = services
	c.tokenKeys, c.revocations, c.prunedAt = keys, revocations, len(revocations)
	c.tokenKeysRaw = nil
	if keys != nil {
		c.tokenKeysRaw = append([]byte(nil), s.TokenKeys...)
	}
	c.verifiedMu.Lock()
	c.verified = nil // verified with keys that may have changed
	c.verifiedMu.Unlock()
	c.index = s.Index
	c.synced = true
	c.announceLocked()
	c.mu.Unlock()
	return gone
}

// applyEvents applies a batch in order. A batch whose index is not beyond the state's (already
// contained in the last Sync) is skipped; index 0 means the controller did not number it.
func (c *cache) applyEvents(ev *ctrlproto.Events) (removals, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Index != 0 && ev.Index <= c.index {
		return removals{}, false
	}
	var gone removals
	casChanged := false
	for _, e := range ev.Events {
		switch {
		case e.CA != nil:
			old, held := c.cas[e.CA.ID]
			var cert *x509.Certificate
			usable := false
			if e.Kind == ctrlproto.EventUpsert {
				cert, usable = parseCA(*e.CA)
			}
			switch {
			case usable && held && cert.Equal(old):
				// unchanged
			case usable:
				c.cas[e.CA.ID] = cert
				casChanged = true
				gone.cas = gone.cas || held // another certificate replaces the one trusted
			case held:
				delete(c.cas, e.CA.ID)
				casChanged = true
				gone.cas = true
			}
		case e.APISession != nil:
			if c.deleteAPISession(e.APISession.ID) && e.Kind == ctrlproto.EventDelete {
				gone.apiSessions = append(gone.apiSessions, e.APISession.ID)
			}
			if e.Kind == ctrlproto.EventUpsert {
				c.apiSessions[e.APISession.TokenHash] = *e.APISession
				c.apiSessionHash[e.APISession.ID] = e.APISession.TokenHash
			}
		case e.Session != nil:
			if c.deleteSession(e.Session.ID) && e.Kind == ctrlproto.EventDelete {
				gone.sessions = append(gone.sessions, e.Session.ID)
			}
			if e.Kind == ctrlproto.EventUpsert {
				c.sessions[e.Session.TokenHash] = *e.Session
				c.sessionHash[e.Session.ID] = e.Session.TokenHash
			}
		case e.Service != nil:
			delete(c.services, e.Service.ID)
			if e.Kind == ctrlproto.EventUpsert {
				c.services[e.Service.ID] = *e.Service
			}
		case e.Revocation != nil:
			if e.Kind == ctrlproto.EventUpsert {
				c.revocations[e.Revocation.APISessionID] = e.Revocation.ExpiresAt
				gone.apiSessions = append(gone.apiSessions, e.Revocation.APISessionID)
			} else {
				delete(c.revocations, e.Revocation.APISessionID)
			}
		}
	}
	if casChanged {
		c.caPool = poolOf(c.cas)
	}
	c.pruneRevocationsLocked(time.Now())
	if ev.Index != 0 {
		c.index = ev.Index
	}
	c.announceLocked()
	return gone, true
}

// pruneRevocationsLocked forgets expired revocations once their number doubled since the last
// pruning, so that the work stays proportional to what was added; the caller holds the write
// lock.
func (c *cache) pruneRevocationsLocked(now time.Time) {
	if len(c.revocations) < 2*c.prunedAt+64 {
		return
	}
	for id, until := range c.revocations {
		if !now.Before(until) {
			delete(c.revocations, id)
		}
	}
	c.prunedAt = len(c.revocations)
}

// deleteAPISession removes an API session by id; the caller holds the write lock.
func (c *cache) deleteAPISession(id string) bool {
	hash, ok := c.apiSessionHash[id]
	if !ok {
		return false
	}
	delete(c.apiSessionHash, id)
	if c.apiSessions[hash].ID == id {
		delete(c.apiSessions, hash)
	}
	return true
}

// deleteSession removes a session by id; the caller holds the write lock.
func (c *cache) deleteSession(id string) bool {
	hash, ok := c.sessionHash[id]
	if !ok {
		return false
	}
	delete(c.sessionHash, id)
	if c.sessions[hash].ID == id {
		delete(c.sessions, hash)
	}
	return true
}

// expireAPISessions drops the API sessions whose lifetime ended by now and
// returns them as removed.
func (c *cache) expireAPISessions(now time.Time) removals {
	c.mu.Lock()
	defer c.mu.Unlock()
	var gone removals
	for _, a := range c.apiSessions {
		if !a.ExpiresAt.IsZero() && !now.Before(a.ExpiresAt) && c.deleteAPISession(a.ID) {
			gone.apiSessions = append(gone.apiSessions, a.ID)
		}
	}
	if len(gone.apiSessions) > 0 {
		c.announceLocked()
	}
	return gone
}

// counts returns the number of API sessions, sessions and services held.
func (c *cache) counts() (apiSessions, sessions, services int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.apiSessionHash), len(c.sessionHash), len(c.services)
}
