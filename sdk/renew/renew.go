// Package renew keeps a client or router certificate fresh. A Renewer holds
// the current certificate and its key, renews it at two thirds of its
// lifetime (with jitter, so that a fleet does not renew all at once) with a
// new key each time, retries failures with capped exponential backoff, and
// swaps the result in atomically. Its GetCertificate and
// GetClientCertificate plug into tls.Config: connections already open keep
// the certificate they negotiated, new handshakes present the new one.
//
// The renewal protocol itself (extend and extend-verify for identities,
// /enroll/extend/router for routers) is the caller's Renew function;
// ExtendIdentity and ExtendRouter implement it against the client API.
package renew

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// KeyAlgorithm names the kind of key generated for each renewal.
type KeyAlgorithm string

// The key algorithms a Renewer can generate.
const (
	ECDSAP256 KeyAlgorithm = "EC-P256"
	ECDSAP384 KeyAlgorithm = "EC-P384"
	RSA2048   KeyAlgorithm = "RSA-2048"
	RSA4096   KeyAlgorithm = "RSA-4096"
)

// Defaults of Config.
const (
	DefaultJitter     = 0.10
	DefaultMinBackoff = 5 * time.Second
	DefaultMaxBackoff = 10 * time.Minute
)

// RenewFunc obtains a certificate chain (leaf first) for the public half of
// newKey, typically by sending a CSR signed with it to the controller.
type RenewFunc func(ctx context.Context, newKey crypto.Signer) ([]*x509.Certificate, error)

// Config configures a Renewer. Only Renew is required.
type Config struct {
	// Certificate is the current certificate and its key. When it holds no
	// parsable certificate, renewal is due at once.
	Certificate tls.Certificate
	// Renew performs the renewal protocol for a new key.
	Renew RenewFunc
	// KeyAlgorithm of the new keys; ECDSAP256 when empty.
	KeyAlgorithm KeyAlgorithm
	// Jitter is the fraction of the lifetime by which the renewal time may
	// move either way from two thirds of the lifetime. Zero selects
	// DefaultJitter; a negative value disables jitter.
	Jitter float64
	// MinBackoff and MaxBackoff bound the wait between failed attempts,
	// which doubles from MinBackoff up to MaxBackoff. Zero selects the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// After waits like time.After; tests substitute a fake clock.
	After func(d time.Duration) <-chan time.Time
	// Random returns a number in [0, 1) that places the renewal within the
	// jitter window; math/rand/v2 when nil.
	Random func() float64
	// OnRenewed, when set, is called with each new certificate after it is
	// in place (for example to save it).
	OnRenewed func(tls.Certificate)
	// Logger receives renewal events; nothing is logged when nil.
	Logger *slog.Logger
}

// Renewer renews one certificate. Its methods are safe for concurrent use.
type Renewer struct {
	cfg     Config
	current atomic.Pointer[tls.Certificate]
	next    atomic.Int64 // the renewal time of the current certificate, Unix nanoseconds
	renewMu sync.Mutex   // one renewal at a time
	changed chan struct{}
}

// New returns a Renewer for cfg's certificate. It does nothing until Run or
// RenewNow is called.
func New(cfg Config) *Renewer {
	if cfg.KeyAlgorithm == "" {
		cfg.KeyAlgorithm = ECDSAP256
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = DefaultJitter
	}
	if cfg.Jitter < 0 {
		cfg.Jitter = 0
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Random == nil {
		cfg.Random = mathrand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Renewer{cfg: cfg, changed: make(chan struct{}, 1)}
	r.install(withLeaf(cfg.Certificate))
	return r
}

// withLeaf fills tc.Leaf from its first certificate when it is missing.
func withLeaf(tc tls.Certificate) tls.Certificate {
	if tc.Leaf == nil && len(tc.Certificate) > 0 {
		if leaf, err := x509.ParseCertificate(tc.Certificate[0]); err == nil {
			tc.Leaf = leaf
		}
	}
	return tc
}

// install makes tc current and schedules its renewal.
func (r *Renewer) install(tc tls.Certificate) {
	at := r.cfg.Now()
	if tc.Leaf != nil {
		at = RenewalTime(tc.Leaf.NotBefore, tc.Leaf.NotAfter, r.cfg.Jitter, r.cfg.Random())
	}
	r.current.Store(&tc)
	r.next.Store(at.UnixNano())
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// RenewalTime is when a certificate valid from notBefore to notAfter is due
// for renewal: at two thirds of its lifetime, moved by up to jitter times
// the lifetime either way; u in [0, 1) picks the point in that window (0.5
// is its middle). The result is never after notAfter nor before notBefore.
func RenewalTime(notBefore, notAfter time.Time, jitter, u float64) time.Time {
	lifetime := notAfter.Sub(notBefore)
	if lifetime <= 0 {
		return notBefore
	}
	fraction := 2.0/3.0 + jitter*(2*u-1)
	fraction = min(max(fraction, 0), 1)
	return notBefore.Add(time.Duration(fraction * float64(lifetime)))
}

// Certificate returns the current certificate.
func (r *Renewer) Certificate() tls.Certificate { return *r.current.Load() }

// NextRenewal is when the current certificate is due for renewal.
func (r *Renewer) NextRenewal() time.Time { return time.Unix(0, r.next.Load()) }

// GetCertificate serves as tls.Config.GetCertificate (a server presenting
// the renewed certificate).
func (r *Renewer) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// GetClientCertificate serves as tls.Config.GetClientCertificate.
func (r *Renewer) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// Backoff is the wait after the given number of consecutive failures
// (from 1): MinBackoff doubled each time, capped at MaxBackoff.
func (r *Renewer) Backoff(failures int) time.Duration {
	d := r.cfg.MinBackoff
	for i := 1; i < failures && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.cfg.MaxBackoff)
}

// RenewNow renews at once with a new key and installs the result.
func (r *Renewer) RenewNow(ctx context.Context) error {
	r.renewMu.Lock()
	defer r.renewMu.Unlock()
	key, err := GenerateKey(r.cfg.KeyAlgorithm)
	if err != nil {
		return err
	}
	chain, err := r.cfg.Renew(ctx, key)
	if err != nil {
		return fmt.Errorf("renew certificate: %w", err)
	}
	tc, err := r.check(chain, key)
	if err != nil {
		return fmt.Errorf("renew certificate: %w", err)
	}
	r.install(tc)
	r.cfg.Logger.Info("certificate renewed", "subject", tc.Leaf.Subject.String(),
		"notAfter", tc.Leaf.NotAfter, "nextRenewal", r.NextRenewal())
	if r.cfg.OnRenewed != nil {
		r.cfg.OnRenewed(tc)
	}
	return nil
}

// check verifies that chain certifies key and is valid now, and pairs them.
func (r *Renewer) check(chain []*x509.Certificate, key crypto.Signer) (tls.Certificate, error) {
	if len(chain) == 0 || chain[0] == nil {
		return tls.Certificate{}, errors.New("no certificate returned")
	}
	leaf := chain[0]
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return tls.Certificate{}, errors.New("the returned certificate is not for the new key")
	}
	if now := r.cfg.Now(); now.After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("the returned certificate expired at %s", leaf.NotAfter.Format(time.RFC3339))
	}
	tc := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		if c != nil {
			tc.Certificate = append(tc.Certificate, c.Raw)
		}
	}
	return tc, nil
}

// Run renews the certificate whenever it is due, until ctx ends; it then
// returns ctx's error. Failed renewals are retried after Backoff.
func (r *Renewer) Run(ctx context.Context) error {
	select { // the installation by New is not news
	case <-r.changed:
	default:
	}
	failures := 0
	for {
		wait := r.NextRenewal().Sub(r.cfg.Now())
		if failures > 0 {
			wait = r.Backoff(failures)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-r.changed:
				failures = 0 // renewed elsewhere (RenewNow): schedule afresh
				continue
			case <-r.cfg.After(wait):
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// The renewal itself signals changed; drain it so the next wait is not cut short.
		err := r.RenewNow(ctx)
		select {
		case <-r.changed:
		default:
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			r.cfg.Logger.Warn("certificate renewal failed", "attempt", failures, "retryIn", r.Backoff(failures), "err", err)
			continue
		}
		failures = 0
	}
}

// GenerateKey makes a new private key of the algorithm.
func GenerateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case ECDSAP256, "":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	default:
		return nil, fmt.Errorf("unknown key algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return key, nil
}
