package sdk

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/sdk/renew"
)

// ServiceEventType says what happened to a service.
type ServiceEventType int

// Service events.
const (
	ServiceAdded ServiceEventType = iota + 1
	ServiceChanged
	ServiceRemoved
)

func (t ServiceEventType) String() string {
	switch t {
	case ServiceAdded:
		return "added"
	case ServiceChanged:
		return "changed"
	case ServiceRemoved:
		return "removed"
	}
	return "unknown"
}

// ServiceEvent is one change of the identity's services.
type ServiceEvent struct {
	Type    ServiceEventType
	Service *Service
}

// clientTLS presents the current (possibly renewed) certificate.
func (c *Context) clientTLS() *tls.Config {
	cfg := c.id.ClientTLS()
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return c.cert.Load(), nil
	}
	return cfg
}

// startBackground starts service watching and certificate renewal, once.
func (c *Context) startBackground() {
	c.bgOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		c.bgCancel = cancel
		go c.watchServices(ctx)
		go c.watchPosture(ctx)
		if !c.opts.DisableRenewal {
			c.renewer = renew.New(renew.Config{
				Certificate: *c.cert.Load(),
				Renew:       c.renewIdentity,
				Logger:      c.log,
				OnRenewed: func(tc tls.Certificate) {
					c.cert.Store(&tc)
					c.mu.Lock()
					if chain, err := identity.ParseCertificates(pemChain(tc)); err == nil && len(chain) > 0 {
						c.id.Chain = chain
					}
					if k, ok := tc.PrivateKey.(crypto.Signer); ok {
						c.id.Key = k
					}
					id := c.id
					saved := *c.id
					c.mu.Unlock()
					c.log.Info("identity certificate renewed", "notAfter", id.Chain[0].NotAfter)
					if path := c.opts.IdentityFile; path != "" {
						if err := saved.Save(path); err != nil {
							c.log.Error("the renewed identity could not be written back; after a restart it cannot sign in",
								"file", path, "err", err)
						} else {
							c.log.Info("renewed identity written back", "file", path)
						}
					}
					if c.opts.OnRenewed != nil {
						c.opts.OnRenewed(id)
					}
				},
			})
			go func() { _ = c.renewer.Run(ctx) }()
		}
	})
}

// renewIdentity extends the identity's certificate authenticator with a new key.
func (c *Context) renewIdentity(ctx context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
	var auths []struct {
		ID          string `json:"id"`
		Method      string `json:"method"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := c.call(ctx, http.MethodGet, "/current-identity/authenticators", nil, &auths); err != nil {
		return nil, err
	}
	for _, a := range auths {
		if a.Method == "cert" {
			return renew.ExtendIdentity(ctx, c.rest.http, c.rest.base(), c.rest.currentToken(), a.ID, key)
		}
	}
	return nil, errors.New("sdk: the identity has no certificate authenticator to renew")
}

// watchServices polls service-updates and, when the identity's services
// changed, refreshes them (and forgets cached sessions of services that are
// gone), reporting added, changed and removed services to OnServiceEvent.
func (c *Context) watchServices(ctx context.Context) {
	interval := c.opts.ServicePollInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	var last string
	known := map[string]*Service{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		var upd struct {
			LastChangeAt string `json:"lastChangeAt"`
		}
		if err := c.call(ctx, http.MethodGet, "/current-api-session/service-updates", nil, &upd); err != nil {
			c.log.Debug("service updates", "err", err)
			continue
		}
		if upd.LastChangeAt == last && !first {
			continue
		}
		list, err := c.Services(ctx)
		if err != nil {
			continue
		}
		last = upd.LastChangeAt
		c.forgetSessionsNotIn(list)
		if c.opts.OnServiceEvent == nil {
			continue
		}
		now := map[string]*Service{}
		for _, s := range list {
			now[s.ID] = s
			old, had := known[s.ID]
			switch {
			case !had:
				c.opts.OnServiceEvent(ServiceEvent{Type: ServiceAdded, Service: s})
			case !reflect.DeepEqual(old, s):
				c.opts.OnServiceEvent(ServiceEvent{Type: ServiceChanged, Service: s})
			}
		}
		for id, s := range known {
			if _, still := now[id]; !still {
				c.opts.OnServiceEvent(ServiceEvent{Type: ServiceRemoved, Service: s})
			}
		}
		known = now
	}
}

// forgetSessionsNotIn drops cached sessions of services no longer listed.
func (c *Context) forgetSessionsNotIn(list []*Service) {
	keep := map[string]bool{}
	for _, s := range list {
		keep[s.ID] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.sessions {
		if _, id, ok := strings.Cut(key, "/"); ok && !keep[id] {
			delete(c.sessions, key)
			delete(c.sessionAt, key)
		}
	}
}

func pemChain(tc tls.Certificate) []byte {
	var out []byte
	for _, der := range tc.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

// RenewCertificate renews the identity's certificate now (it also happens on
// its own at 2/3 of the certificate's lifetime). Live connections keep going.
func (c *Context) RenewCertificate(ctx context.Context) error {
	if err := c.ensureAuthenticated(ctx); err != nil {
		return err
	}
	if c.renewer == nil {
		return errors.New("sdk: certificate renewal is disabled")
	}
	return c.renewer.RenewNow(ctx)
}
