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
	"sync"
	"time"

	"github.com/ostium-net/ostium/router/ctrlclient"
	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/sdk/enroll"
	"github.com/ostium-net/ostium/sdk/identity"
)

// routerIdentity is an enrolled router's certificates, kept in routerDir.
type routerIdentity struct {
	ID     string
	client tls.Certificate
	server tls.Certificate
	cas    *x509.CertPool
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
func ensureRouter(ctx context.Context, admin *adminClient, dir string) (*routerIdentity, error) {
	if rid, err := loadRouter(dir); err == nil {
		return rid, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	id, err := admin.recreate(ctx, "edge-routers", RouterName, map[string]any{"isTunnelerEnabled": false, "roleAttributes": []string{"quickstart"}})
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
	clientCSR, err := csr(clientKey, RouterName, nil)
	if err != nil {
		return nil, err
	}
	serverCSR, err := csr(serverKey, RouterName, []net.IP{net.IPv4(127, 0, 0, 1)})
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

func csr(key *ecdsa.PrivateKey, cn string, ips []net.IP) (string, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, IPAddresses: ips}, key)
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
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("quickstart: stored router: %w", err)
		}
		return b, nil
	}
	pair := func(certName, keyName string) (tls.Certificate, error) {
		c, err := read(certName)
		if err != nil {
			return tls.Certificate{}, err
		}
		k, err := read(keyName)
		if err != nil {
			return tls.Certificate{}, err
		}
		cert, err := tls.X509KeyPair(c, k)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("quickstart: stored router %s: %w", certName, err)
		}
		return cert, nil
	}
	client, err := pair(routerClientCert, routerClientKey)
	if err != nil {
		return nil, err
	}
	server, err := pair(routerServerCert, routerServerKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := read(routerCABundle)
	if err != nil {
		return nil, err
	}
	certs, err := identity.ParseCertificates(caPEM)
	if err != nil {
		return nil, fmt.Errorf("quickstart: stored router CA: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &routerIdentity{ID: strings.TrimSpace(string(idRaw)), client: client, server: server, cas: pool}, nil
}

// runningRouter is the in-process edge router.
type runningRouter struct {
	listener *edge.Listener
	ln       net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func startRouter(ctx context.Context, rid *routerIdentity, controlAddr string, ln net.Listener, log *slog.Logger) (*runningRouter, error) {
	r := &runningRouter{ln: ln}
	cc, err := ctrlclient.New(ctrlclient.Config{
		Address:   controlAddr,
		TLS:       &tls.Config{RootCAs: rid.cas, Certificates: []tls.Certificate{rid.client}, MinVersion: tls.VersionTLS12},
		Listeners: map[string]string{"tls": "tls://" + ln.Addr().String()},
		Logger:    log.With("part", "ctrl"),
		OnAPISessionsRemoved: func(ids []string) {
			if r.listener != nil {
				r.listener.CloseAPISessions(ids...)
			}
		},
		OnSessionsRemoved: func(ids []string) {
			if r.listener != nil {
				r.listener.CloseSessions(ids...)
			}
		},
		ActiveAPISessions: func() []string {
			if r.listener == nil {
				return nil
			}
			return r.listener.APISessions()
		},
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("quickstart: router control channel: %w", err)
	}
	r.listener, err = edge.New(edge.Config{RouterID: rid.ID,
		TLS:       &tls.Config{Certificates: []tls.Certificate{rid.server}, MinVersion: tls.VersionTLS12},
		ClientCAs: rid.cas, Tokens: cc, Terminators: cc, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("quickstart: router edge listener: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		_ = cc.Run(runCtx)
	}()
	go func() {
		defer r.wg.Done()
		if err := r.listener.Serve(ln); err != nil && !errors.Is(err, edge.ErrListenerClosed) {
			log.Error("edge listener stopped", "err", err)
		}
	}()
	return r, nil
}

func (r *runningRouter) stop() {
	r.cancel()
	_ = r.listener.Close()
	_ = r.ln.Close()
	r.wg.Wait()
}
