package router

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/sdk/renew"
)

// Identity is what a router loads from its enrolled files.
type Identity struct {
	// RouterID is the common name of the client certificate.
	RouterID string
	Client   tls.Certificate
	Server   tls.Certificate
	// CAs is the network's CA bundle.
	CAs *x509.CertPool
}

// LoadIdentity reads the enrolled router's certificates, keys and CA bundle.
func LoadIdentity(cfg IdentityConfig) (*Identity, error) {
	client, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("load client certificate (is the router enrolled?): %w", err)
	}
	if client.Leaf == nil {
		if client.Leaf, err = x509.ParseCertificate(client.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse client certificate: %w", err)
		}
	}
	routerID := client.Leaf.Subject.CommonName
	if routerID == "" {
		return nil, fmt.Errorf("client certificate %s has no common name (the router id)", cfg.Cert)
	}
	server, err := tls.LoadX509KeyPair(cfg.ServerCert, cfg.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("load server certificate: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.CA)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	certs, err := identity.ParseCertificates(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA bundle %s: %w", cfg.CA, err)
	}
	cas := x509.NewCertPool()
	for _, c := range certs {
		cas.AddCert(c)
	}
	return &Identity{RouterID: routerID, Client: client, Server: server, CAs: cas}, nil
}

// newRenewer renews the router's client and server certificates through /enroll/extend/router
// (authenticated by the current client certificate), swaps them in, and writes them to the
// configured files.
func newRenewer(cfg Config, id *Identity, server *atomic.Pointer[tls.Certificate], log *slog.Logger) *renew.Renewer {
	var r *renew.Renewer
	host := cfg.AdvertisedHost()
	var dns []string
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, ip)
	} else if host != "" {
		dns = append(dns, host)
	}
	var pending atomic.Pointer[renew.RouterCerts]
	r = renew.New(renew.Config{
		Certificate: id.Client,
		Logger:      log.With("component", "renew"),
		Renew: func(ctx context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
			// A new connection per renewal, presenting the current certificate.
			hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
				TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: id.CAs, GetClientCertificate: r.GetClientCertificate}}}
			certs, err := renew.ExtendRouter(ctx, hc, strings.TrimSuffix(cfg.Controller.APIURL, "/")+"/edge/client/v1", key, dns, ips)
			if err != nil {
				return nil, err
			}
			pending.Store(certs)
			return certs.Client, nil
		},
		OnRenewed: func(client tls.Certificate) {
			certs := pending.Load()
			if certs == nil {
				return
			}
			srv := tls.Certificate{PrivateKey: client.PrivateKey}
			for _, c := range certs.Server {
				srv.Certificate = append(srv.Certificate, c.Raw)
			}
			server.Store(&srv)
			if err := saveRenewed(cfg.Identity, client, srv); err != nil {
				log.Error("renewed certificates could not be saved; the router keeps them in memory", "err", err)
				return
			}
			log.Info("router certificates renewed", "notAfter", certs.Client[0].NotAfter)
		},
	})
	return r
}

// saveRenewed writes renewed certificates and their key over the files.
func saveRenewed(cfg IdentityConfig, client, server tls.Certificate) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(client.PrivateKey)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	chainPEM := func(c tls.Certificate) []byte {
		var out []byte
		for _, der := range c.Certificate {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
		return out
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{cfg.Key, keyPEM, 0o600}, {cfg.ServerKey, keyPEM, 0o600}, {cfg.Cert, chainPEM(client), 0o644}, {cfg.ServerCert, chainPEM(server), 0o644}} {
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Rename(tmp, f.path); err != nil {
			return err
		}
	}
	return nil
}
