package quickstart

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/router"
	"github.com/ostium-net/ostium/sdk/enroll"
)

// routerIdentity is an enrolled router's certificates, kept in routerDir.
type routerIdentity struct {
	ID  string
	dir string
}

// Files of an enrolled router.
const (
	routerIDFile      = "id"
	routerClientCert  = "client.cert"
	routerClientKey   = "client.key"
	routerServerCert  = "server.cert"
	routerServerKey   = "server.key"
	routerCABundle    = "ca.cert"
	routerFileModeKey = 0o600
)

// ensureRouter loads the router enrolled by an earlier run or creates and
// enrolls one (erott) and stores its files in dir.
func ensureRouter(ctx context.Context, admin *adminClient, dir, name string) (*routerIdentity, error) {
	if rid, err := loadRouter(dir); err == nil {
		return rid, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	id, err := admin.recreate(ctx, "edge-routers", name, map[string]any{"isTunnelerEnabled": false, "roleAttributes": []string{"quickstart"}})
	if err != nil {
		return nil, err
	}
	var detail struct {
		EnrollmentJWT string `json:"enrollmentJwt"`
	}
	if err := admin.do(ctx, "GET", "/edge-routers/"+id, nil, &detail); err != nil {
		return nil, fmt.Errorf("quickstart: read the router: %w", err)
	}
	claims, pool, cas, err := enroll.Verify(ctx, detail.EnrollmentJWT, enroll.Options{})
	if err != nil {
		return nil, fmt.Errorf("quickstart: verify the router's JWT: %w", err)
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	clientCSR, err := csr(clientKey, name, nil, nil)
	if err != nil {
		return nil, err
	}
	serverCSR, err := csr(serverKey, name, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]string{"token": claims.Token, "certCsr": clientCSR, "serverCertCsr": serverCSR})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(claims.Issuer, "/")+"/edge/client/v1/enroll/erott", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("quickstart: enroll the router: %w", err)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("quickstart: enroll the router: %d %s", resp.StatusCode, raw)
	}
	var env struct {
		Data struct {
			Cert       string `json:"cert"`
			ServerCert string `json:"serverCert"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("quickstart: enroll the router: %w", err)
	}
	var caPEM []byte
	for _, c := range cas {
		caPEM = append(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	clientKeyPEM, err := keyPEM(clientKey)
	if err != nil {
		return nil, err
	}
	serverKeyPEM, err := keyPEM(serverKey)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("quickstart: %w", err)
	}
	// The id is written last: its presence marks a complete enrollment.
	files := []struct {
		name string
		data []byte
	}{
		{routerClientCert, []byte(env.Data.Cert)}, {routerClientKey, clientKeyPEM},
		{routerServerCert, []byte(env.Data.ServerCert)}, {routerServerKey, serverKeyPEM},
		{routerCABundle, caPEM}, {routerIDFile, []byte(id + "\n")},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, routerFileModeKey); err != nil {
			return nil, fmt.Errorf("quickstart: store the router: %w", err)
		}
	}
	return loadRouter(dir)
}

func csr(key *ecdsa.PrivateKey, cn string, dns []string, ips []net.IP) (string, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns, IPAddresses: ips}, key)
	if err != nil {
		return "", fmt.Errorf("quickstart: certificate request: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// loadRouter reads a stored router; os.ErrNotExist when none is stored.
func loadRouter(dir string) (*routerIdentity, error) {
	idRaw, err := os.ReadFile(filepath.Join(dir, routerIDFile))
	if err != nil {
		return nil, err
	}
	rid := &routerIdentity{ID: strings.TrimSpace(string(idRaw)), dir: dir}
	if _, err := router.LoadIdentity(rid.files()); err != nil {
		return nil, fmt.Errorf("quickstart: stored router in %s: %w", dir, err)
	}
	return rid, nil
}

// files names the stored router's identity files.
func (rid *routerIdentity) files() router.IdentityConfig {
	return router.IdentityConfig{
		Cert: filepath.Join(rid.dir, routerClientCert), Key: filepath.Join(rid.dir, routerClientKey),
		ServerCert: filepath.Join(rid.dir, routerServerCert), ServerKey: filepath.Join(rid.dir, routerServerKey),
		CA: filepath.Join(rid.dir, routerCABundle),
	}
}

// startRouter runs the stored router in this process, serving its edge listener on ln and,
// when linkLn is not nil, accepting links from the other routers on linkLn.
func startRouter(ctx context.Context, rid *routerIdentity, controlAddr, apiURL string, ln, linkLn net.Listener, metrics prometheus.Registerer, log *slog.Logger) (*router.Router, error) {
	cfg := router.DefaultConfig()
	cfg.Identity = rid.files()
	cfg.Controller.Endpoint = "tls:" + controlAddr
	cfg.Controller.APIURL = apiURL
	cfg.Edge.Listen = ln.Addr().String()
	cfg.Edge.Advertise = cfg.Edge.Listen
	opts := router.Options{Logger: log, EdgeListener: ln, ControlMinBackoff: 50 * time.Millisecond, ControlMaxBackoff: time.Second, Metrics: metrics}
	if linkLn != nil {
		cfg.Link.Listen = linkLn.Addr().String()
		cfg.Link.Advertise = cfg.Link.Listen
		opts.LinkListener = linkLn
	}
	r, err := router.Start(ctx, cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("quickstart: start the router: %w", err)
	}
	return r, nil
}
