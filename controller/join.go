package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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

	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/sdk/enroll"
)

// joinFile, in the data directory, holds the cluster address a controller
// prepared by InitJoin joins through at its first start.
const joinFile = "cluster-join"

// InitJoin prepares a controller that joins an existing cluster with a join
// token (made by `ostium cluster join-token` on a member): it fetches the
// member's CA bundle, trusts it only if its root matches the fingerprint the
// token pins, trades the token for the signing CA over that verified
// connection, makes this controller's own server certificate for the
// addresses its configuration names, and records where to join. The next
// `run` joins the cluster and receives the whole state from it.
func InitJoin(ctx context.Context, cfg Config, token string, log *slog.Logger) error {
	tok, err := cluster.ParseJoinToken(token)
	if err != nil {
		return err
	}
	if cfg.PKI.SigningCert != "" {
		return errors.New("this configuration names its own PKI files (pki.signingCert): a controller that joins with a token keeps the cluster's PKI in its data directory")
	}
	if entries, err := os.ReadDir(cfg.DataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("the data directory %s is not empty: a joining controller starts from nothing and receives the state from the cluster", cfg.DataDir)
	}
	roots, err := pinnedRoots(ctx, tok)
	if err != nil {
		return err
	}
	m, clusterAddr, err := exchangeJoinToken(ctx, tok, roots, token)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	io, err := pkiInitOptions(cfg)
	if err != nil {
		return err
	}
	if _, err := pki.InitJoined(cfg.PKIDir(), m, io); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, joinFile), []byte(clusterAddr+"\n"), 0o600); err != nil {
		return fmt.Errorf("record the cluster to join: %w", err)
	}
	log.Info("ready to join the cluster; start the controller with run", "through", clusterAddr, "pki", cfg.PKIDir())
	return nil
}

// preparedJoin is the cluster address InitJoin recorded, or "".
func preparedJoin(cfg Config) string {
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, joinFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// pinnedRoots fetches the member's CA bundle and keeps the root the token
// pins; nothing else from that connection is trusted.
func pinnedRoots(ctx context.Context, tok cluster.JoinToken) (*x509.CertPool, error) {
	insecure := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}}} // only the pinned root is kept
	defer insecure.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+tok.APIAddress+"/.well-known/est/cacerts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := insecure.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the controller named by the token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the CA bundle from %s: status %d: %v", tok.APIAddress, resp.StatusCode, err)
	}
	cas, err := enroll.ParseCACerts(body)
	if err != nil {
		return nil, fmt.Errorf("the CA bundle from %s: %w", tok.APIAddress, err)
	}
	for _, c := range cas {
		if pki.RootFingerprint(c.Raw) == tok.RootFingerprint {
			pool := x509.NewCertPool()
			pool.AddCert(c)
			return pool, nil
		}
	}
	return nil, fmt.Errorf("the controller at %s does not hold the root CA the token names: refusing to trust it", tok.APIAddress)
}

// exchangeJoinToken trades the token for the signing CA over TLS verified
// against the pinned root.
func exchangeJoinToken(ctx context.Context, tok cluster.JoinToken, roots *x509.CertPool, token string) (pki.JoinMaterial, string, error) {
	host, _, _ := net.SplitHostPort(tok.APIAddress)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: host}}}
	defer hc.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"token": strings.TrimSpace(token)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tok.APIAddress+"/edge/management/v1/cluster/join", bytes.NewReader(body))
	if err != nil {
		return pki.JoinMaterial{}, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return pki.JoinMaterial{}, "", fmt.Errorf("join through %s: %w", tok.APIAddress, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return pki.JoinMaterial{}, "", fmt.Errorf("join through %s: %w", tok.APIAddress, err)
	}
	var env struct {
		Data struct {
			RootCertificates   string `json:"rootCertificates"`
			SigningCertificate string `json:"signingCertificate"`
			SigningKey         string `json:"signingKey"`
			ClusterAddress     string `json:"clusterAddress"`
		} `json:"data"`
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &env)
	if resp.StatusCode != http.StatusOK {
		return pki.JoinMaterial{}, "", fmt.Errorf("the controller at %s refused the token (%d): %s", tok.APIAddress, resp.StatusCode, env.Error.Message)
	}
	d := env.Data
	if d.ClusterAddress == "" || d.SigningKey == "" {
		return pki.JoinMaterial{}, "", fmt.Errorf("the controller at %s answered without the material to join", tok.APIAddress)
	}
	return pki.JoinMaterial{RootsPEM: []byte(d.RootCertificates), SigningCertPEM: []byte(d.SigningCertificate),
		SigningKeyPEM: []byte(d.SigningKey)}, d.ClusterAddress, nil
}
