package oidc

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// An authorization request lives on the node that received it, from
// /authorize to the code's redemption at /token, as in OpenZiti: a client
// talks to one controller during a sign-in. What outlives it (the API
// session) is replicated; what signs the tokens is the same on every node.

// Lifetimes and bounds of pending requests.
const (
	// requestLifetime is how long a client has to sign in after /authorize.
	requestLifetime = 10 * time.Minute
	// codeLifetime is how long an authorization code may wait for /token.
	codeLifetime = time.Minute
	// maxPending bounds the requests held at once; the oldest goes first.
	maxPending = 10000
)

// authRequest is one sign-in in progress.
type authRequest struct {
	id      string
	expires time.Time

	clientID    string
	redirectURI string
	state       string
	nonce       string
	challenge   string // S256 code challenge
	scopes      []string
	method      string // the login method asked for or guessed

	// Set once the primary credential was accepted.
	grant *Grant
	// authMethods are the amr values proven so far.
	authMethods []string

	// Set once the code was issued; redeemed once it was exchanged.
	code        string
	codeExpires time.Time
	redeemed    bool
}

// pendingRequests holds the authorization requests of this node.
type pendingRequests struct {
	mu     sync.Mutex
	byID   map[string]*authRequest
	byCode map[string]*authRequest
	order  []string // ids by creation, for expiry and eviction
	max    int
}

func newPendingRequests(max int) *pendingRequests {
	return &pendingRequests{byID: map[string]*authRequest{}, byCode: map[string]*authRequest{}, max: max}
}

// randomID is 256 random bits, base64url.
func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// add files ar under a new id, making room when the node holds too many.
func (p *pendingRequests) add(ar *authRequest, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	for len(p.byID) >= p.max && len(p.order) > 0 {
		p.dropLocked(p.order[0])
		p.order = p.order[1:]
	}
	ar.id = randomID()
	ar.expires = now.Add(requestLifetime)
	p.byID[ar.id] = ar
	p.order = append(p.order, ar.id)
}

// pruneLocked forgets requests past their time, oldest first.
func (p *pendingRequests) pruneLocked(now time.Time) {
	for len(p.order) > 0 {
		ar, ok := p.byID[p.order[0]]
		if ok && now.Before(ar.expires) {
			return
		}
		p.dropLocked(p.order[0])
		p.order = p.order[1:]
	}
}

func (p *pendingRequests) dropLocked(id string) {
	if ar, ok := p.byID[id]; ok {
		delete(p.byID, id)
		if ar.code != "" {
			delete(p.byCode, ar.code)
		}
	}
}

// with runs fn on the live request id under the lock; false when there is
// none.
func (p *pendingRequests) with(id string, now time.Time, fn func(ar *authRequest)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ar, ok := p.byID[id]
	if !ok || !now.Before(ar.expires) {
		return false
	}
	fn(ar)
	return true
}

// issueCode gives the signed-in request id its authorization code, once.
func (p *pendingRequests) issueCode(id string, now time.Time) (*authRequest, string, *Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ar, ok := p.byID[id]
	switch {
	case !ok || !now.Before(ar.expires):
		return nil, "", badRequest("unknown or expired authorization request")
	case ar.grant == nil || ar.grant.MFAPending:
		return nil, "", newError(403, ErrCodeAccessDenied, "the sign-in is not complete")
	case ar.code != "":
		return nil, "", badRequest("the authorization code of this request was already issued")
	}
	ar.code = randomID()
	ar.codeExpires = now.Add(codeLifetime)
	p.byCode[ar.code] = ar
	copied := *ar
	return &copied, ar.code, nil
}

// redeem takes the request of a code. A code works once: a second use
// finds the request marked redeemed (and the caller ends what the first
// use obtained).
func (p *pendingRequests) redeem(code string, now time.Time) (ar authRequest, replayed bool, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	found, exists := p.byCode[code]
	if !exists || !now.Before(found.codeExpires) {
		return authRequest{}, false, false
	}
	if found.redeemed {
		return *found, true, true
	}
	found.redeemed = true
	return *found, false, true
}
