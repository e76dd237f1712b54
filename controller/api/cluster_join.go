package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/domain"

	clusterops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/cluster"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Join tokens: an admin makes one on any member; a new controller trades it,
// once, for the network's signing CA, and then joins through the cluster
// port with a server certificate of its own (see cluster.JoinToken).

// DefaultJoinTokenLifetime is how long a join token stays usable unless the
// admin asks otherwise.
const DefaultJoinTokenLifetime = time.Hour

// errJoinTokenRefused answers every token that cannot be used, alike.
var errJoinTokenRefused = newErr(http.StatusUnauthorized, CodeInvalidAuth, "the join token is unknown, already used or expired; make a new one with ostium cluster join-token")

// createClusterJoinToken answers POST /cluster/join-tokens.
func (s *Server) createClusterJoinToken(p clusterops.CreateClusterJoinTokenParams, pr any) middleware.Responder {
	lifetime := DefaultJoinTokenLifetime
	if p.JoinToken != nil && p.JoinToken.ExpiresInSeconds > 0 {
		lifetime = time.Duration(p.JoinToken.ExpiresInSeconds) * time.Second
	}
	return s.createJoinToken(p.HTTPRequest, principalOf(pr), lifetime)
}

// handleJoinCluster answers POST /cluster/join.
func (s *Server) handleJoinCluster(p clusterops.JoinClusterParams) middleware.Responder {
	return s.joinCluster(p.HTTPRequest, *p.Join.Token)
}

func (s *Server) createJoinToken(r *http.Request, caller *Principal, lifetime time.Duration) middleware.Responder {
	roots := s.CA.RootFingerprints()
	if s.Node == nil || len(roots) == 0 {
		return fail(newErr(http.StatusServiceUnavailable, CodeUnavailable, "this controller does not run a cluster node"))
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fail(err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	now := time.Now().UTC()
	rec := &store.JoinToken{Meta: store.Meta{ID: state.NewID()}, SecretHash: joinSecretHash(secret), ExpiresAt: now.Add(lifetime)}
	if caller != nil && caller.Identity != nil {
		rec.CreatedBy = caller.Identity.ID
	}
	// Tokens that expired unused by then go with the making of a new one.
	if err := s.State.Apply(requestContext(r), &domain.IssueJoinToken{Token: rec}); err != nil {
		return fail(err)
	}
	token := cluster.JoinToken{APIAddress: s.Advertise, RootFingerprint: roots[0], ID: rec.ID, Secret: secret}
	return respond{status: http.StatusCreated, body: envelope{Meta: newMeta(), Data: &models.ClusterJoinTokenDetail{
		ID: ptr(rec.ID), Token: ptr(token.String()), ExpiresAt: ptr(strfmt.DateTime(rec.ExpiresAt))}}}
}

func (s *Server) joinCluster(r *http.Request, text string) middleware.Responder {
	tok, err := cluster.ParseJoinToken(text)
	if err != nil {
		return fail(validationError("token", err.Error(), nil))
	}
	// A look first, so that a wrong token costs no log entry; using the
	// token deletes it, in an entry that checks the secret and the expiry
	// again: of two joins racing with one token, only the first gets in.
	use := &domain.UseJoinToken{ID: tok.ID, SecretHash: joinSecretHash(tok.Secret)}
	err = s.State.View(func(tx *store.Tx) error {
		rec, err := store.Get[*store.JoinToken](tx, store.JoinTokens, tok.ID)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(rec.SecretHash), []byte(use.SecretHash)) != 1 || time.Now().After(rec.ExpiresAt) {
			return domain.ErrJoinTokenRefused
		}
		return nil
	})
	if err == nil {
		err = s.State.Apply(requestContext(r), use)
	}
	if errors.Is(err, store.ErrNotFound) || domain.Is(err, domain.ErrJoinTokenRefused) {
		return fail(errJoinTokenRefused)
	}
	if domain.Is(err, domain.ErrJoinTokenRefused) {
		return fail(errJoinTokenRefused)
	}
	if err != nil {
		return fail(err)
	}
	m, err := s.CA.JoinMaterial()
	if err != nil {
		return fail(err)
	}
	s.Log.Info("a controller received the cluster's CA with a join token", "token", tok.ID, "remote", r.RemoteAddr)
	return ok(&models.ClusterJoinMaterial{RootCertificates: ptr(string(m.RootsPEM)), SigningCertificate: ptr(string(m.SigningCertPEM)),
		SigningKey: ptr(string(m.SigningKeyPEM)), ClusterAddress: ptr(s.Node.Addr())})
}

func joinSecretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
