package ctrlclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ostium-net/ostium/internal/apitoken"
	"github.com/ostium-net/ostium/internal/ctrlproto"
)

// tokenSigner stands in for the controller's OIDC provider: a key whose
// public half is pushed, and access tokens signed with it.
type tokenSigner struct {
	key jwk.Key
	set []byte
}

func newTokenSigner(t *testing.T) *tokenSigner {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := jwk.FromRaw(priv)
	pub, _ := jwk.FromRaw(&priv.PublicKey)
	for _, k := range []jwk.Key{key, pub} {
		_ = k.Set(jwk.KeyIDKey, "kid-1")
		_ = k.Set(jwk.AlgorithmKey, apitoken.Algorithm)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	doc, _ := json.Marshal(set)
	return &tokenSigner{key: key, set: doc}
}

func (s *tokenSigner) access(t *testing.T, apiSessionID string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	tok, err := apitoken.Sign(s.key, &apitoken.Claims{Issuer: "https://ctrl/oidc", Subject: "identity-" + apiSessionID,
		Audience: apitoken.Audiences{apitoken.Audience}, IssuedAt: now.Unix(), ExpiresAt: now.Add(ttl).Unix(),
		Type: apitoken.TypeAccess, APISessionID: apiSessionID, CertFingerprints: []string{"fp-login"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestSignedAccessTokens: the router accepts OIDC access tokens by their
// signature with the pushed keys, for sessions it has not heard of too
// (the controller may be away), refuses revoked ones and closes their
// channels, and refuses everything signed otherwise or expired.
func TestSignedAccessTokens(t *testing.T) {
	h := startHarness(t, nil)
	sess := h.server.next(t)
	signer := newTokenSigner(t)
	held := ctrlproto.APISession{ID: "as-held", IdentityID: "identity-as-held", TokenHash: ctrlproto.TokenHash("nobody knows"), CertFingerprints: []string{"fp-later"}}
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 5, APISessions: []ctrlproto.APISession{held}, TokenKeys: signer.set,
		Revocations: []ctrlproto.Revocation{{APISessionID: "as-revoked", ExpiresAt: time.Now().Add(time.Hour)},
			{APISessionID: "as-lapsed", ExpiresAt: time.Now().Add(-time.Second)}}})
	eventually(t, "the sync", h.client.Synced)

	a, ok := h.client.APISession(signer.access(t, "as-held", time.Minute))
	if !ok || a.ID != "as-held" || a.IdentityID != "identity-as-held" || a.ExpiresAt.IsZero() ||
		!slices.Contains(a.CertFingerprints, "fp-login") || !slices.Contains(a.CertFingerprints, "fp-later") {
		t.Fatalf("held session: %+v %v", a, ok)
	}
	if a, ok := h.client.APISession(signer.access(t, "as-new", time.Minute)); !ok || a.ID != "as-new" {
		t.Fatalf("a session the router never heard of: %+v %v", a, ok)
	}
	if _, ok := h.client.APISession(signer.access(t, "as-revoked", time.Minute)); ok {
		t.Fatal("a revoked session's token was accepted")
	}
	if _, ok := h.client.APISession(signer.access(t, "as-lapsed", time.Minute)); !ok {
		t.Fatal("a revocation past its end still refuses")
	}
	if _, ok := h.client.APISession(signer.access(t, "as-held", -time.Minute)); ok {
		t.Fatal("an expired token was accepted")
	}
	if _, ok := h.client.APISession(newTokenSigner(t).access(t, "as-held", time.Minute)); ok {
		t.Fatal("a token of another key was accepted")
	}
	if apis, _ := h.removed.snapshot(); !slices.Contains(apis, "as-revoked") {
		t.Fatalf("the Sync's revocations closed nothing: %v", apis)
	}

	// A revocation pushed later: refused, and its channels closed.
	token := signer.access(t, "as-new", time.Minute)
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 6, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventUpsert, Revocation: &ctrlproto.Revocation{APISessionID: "as-new", ExpiresAt: time.Now().Add(time.Hour)}}}})
	eventually(t, "the revocation", func() bool { _, ok := h.client.APISession(token); return !ok })
	if apis, _ := h.removed.snapshot(); !slices.Contains(apis, "as-new") {
		t.Fatalf("a pushed revocation closed nothing: %v", apis)
	}

	// A Sync without keys (OIDC turned off) refuses signed tokens.
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 7, APISessions: []ctrlproto.APISession{held}})
	eventually(t, "the keys to go", func() bool { _, ok := h.client.APISession(signer.access(t, "as-held", time.Minute)); return !ok })
}

func TestRevocationsArePruned(t *testing.T) {
	c := newCache()
	past := time.Now().Add(-time.Minute)
	var evs []ctrlproto.Event
	for i := range 200 {
		evs = append(evs, ctrlproto.Event{Kind: ctrlproto.EventUpsert, Revocation: &ctrlproto.Revocation{APISessionID: string(rune('a'+i%26)) + string(rune(i)), ExpiresAt: past}})
	}
	c.applyEvents(&ctrlproto.Events{Index: 1, Events: evs})
	if n := len(c.revocations); n >= 200 {
		t.Fatalf("%d expired revocations kept", n)
	}
}

// BenchmarkSignedAPISession measures what a Hello with an OIDC access token
// costs the router, the first time (an ES256 verification) and again
// (remembered), against the lookup of an opaque token in the pushed state,
// and reports the ratios.
func BenchmarkSignedAPISession(b *testing.B) {
	t := &testing.T{}
	signer := newTokenSigner(t)
	c := newCache()
	held := apiSession("as-1", "opaque-token")
	c.applySync(&ctrlproto.Sync{Index: 1, APISessions: []ctrlproto.APISession{held}, TokenKeys: signer.set})
	token := signer.access(t, "as-1", time.Hour)
	measure := func(tok string) float64 {
		start := time.Now()
		for range b.N {
			if _, ok := c.apiSession(tok); !ok {
				b.Fatal("token refused")
			}
		}
		return float64(time.Since(start).Nanoseconds()) / float64(b.N)
	}
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i] = signer.access(t, fmt.Sprintf("as-%d", i), time.Hour)
	}
	b.ResetTimer()
	opaque := measure("opaque-token")
	again := measure(token)
	start := time.Now()
	for _, tok := range tokens {
		c.verifiedMu.Lock()
		c.verified = nil // each a first sight
		c.verifiedMu.Unlock()
		if _, ok := c.apiSession(tok); !ok {
			b.Fatal("token refused")
		}
	}
	first := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.ReportMetric(opaque, "ns/opaque")
	b.ReportMetric(first, "ns/signed-first")
	b.ReportMetric(again, "ns/signed-again")
	b.ReportMetric(first/opaque, "first/opaque")
	b.ReportMetric(again/opaque, "again/opaque")
}
