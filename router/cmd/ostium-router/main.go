// Command ostium-router runs an Ostium edge router: `enroll` trades the router's enrollment JWT
// for its certificates, `run` serves the edge listener under the control of the controller.
package main

import (
	"bytes"
	"context"
	"crypto"
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
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/internal/buildinfo"
	"github.com/ostium-net/ostium/internal/exitcode"
	"github.com/ostium-net/ostium/router"
	"github.com/ostium-net/ostium/sdk/enroll"
)

func main() {
	os.Exit(exitcode.Run(newRoot(), os.Stderr))
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "ostium-router",
		Short:         "The Ostium edge router: the edge listener SDK clients and tunnelers connect to",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long:          exitcode.Describe,
		Version:       buildinfo.Version,
	}
	root.AddCommand(newEnroll(), newRun())
	return root
}

// methodERott is the enrollment method of edge routers.
const methodERott = "erott"

func newEnroll() *cobra.Command {
	var configPath, jwtPath string
	var force bool
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Enroll the router with its one-time JWT and write its certificates and keys",
		Long: `Verifies the enrollment JWT against the controller that issued it, generates the
router's client and server keys (EC P-256), has the controller sign them and writes the
certificate, key and CA files named under identity in the config. The server certificate
names the host of edge.advertise.`,
		Example: `  ostium-router enroll --jwt router.jwt --config /etc/ostium/router.yml`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := router.LoadConfig(configPath)
			if err != nil {
				return err
			}
			log := cfg.Log.NewLogger(os.Stderr)
			if !force {
				for _, p := range []string{cfg.Identity.Key, cfg.Identity.ServerKey} {
					if _, err := os.Stat(p); err == nil {
						return fmt.Errorf("%s exists: the router looks enrolled already (use --force to replace its identity)", p)
					}
				}
			}
			token, err := os.ReadFile(jwtPath)
			if err != nil {
				return fmt.Errorf("read enrollment token: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			claims, pool, cas, err := enroll.Verify(ctx, string(token), enroll.Options{})
			if err != nil {
				return fmt.Errorf("verify enrollment token: %w", err)
			}
			if claims.Method != methodERott {
				return fmt.Errorf("the token is for %q enrollment, not an edge router (%s)", claims.Method, methodERott)
			}
			id, err := enrollRouter(ctx, cfg, claims, pool, cas)
			if err != nil {
				return err
			}
			log.Info("router enrolled", "routerId", id, "controller", claims.Issuer, "cert", cfg.Identity.Cert, "serverCert", cfg.Identity.ServerCert)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "etc/router.yml", "router configuration file")
	cmd.Flags().StringVar(&jwtPath, "jwt", "", "the router's enrollment JWT file")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing identity")
	_ = cmd.MarkFlagRequired("jwt")
	return cmd
}

// enrollmentCerts is the data of the controller's answer to an erott enrollment.
type enrollmentCerts struct {
	Cert       string `json:"cert"`
	ServerCert string `json:"serverCert"`
	CA         string `json:"ca"`
}

// enrollRouter generates the router's keys and CSRs, has the issuer of claims sign them (over
// TLS verified by pool) and writes the identity files. It returns the router's id.
func enrollRouter(ctx context.Context, cfg router.Config, claims *enroll.Claims, pool *x509.CertPool, cas []*x509.Certificate) (string, error) {
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate client key: %w", err)
	}
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate server key: %w", err)
	}
	clientCSR, err := newCSR(clientKey, claims.Subject, "")
	if err != nil {
		return "", fmt.Errorf("client CSR: %w", err)
	}
	host := cfg.AdvertisedHost()
	serverCSR, err := newCSR(serverKey, host, host)
	if err != nil {
		return "", fmt.Errorf("server CSR: %w", err)
	}

	body, err := json.Marshal(map[string]string{"token": claims.Token, "certCsr": clientCSR, "serverCertCsr": serverCSR})
	if err != nil {
		return "", err
	}
	u := strings.TrimRight(claims.Issuer, "/") + "/edge/client/v1/enroll/erott"
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("enroll at %s: %w", u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("enroll at %s: read answer: %w", u, err)
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &env)
		return "", fmt.Errorf("enroll at %s: controller answered %d %s: %s", u, resp.StatusCode, env.Error.Code, env.Error.Message)
	}
	var env struct {
		Data enrollmentCerts `json:"data"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return "", fmt.Errorf("enroll at %s: decode answer: %w", u, err)
	}

	clientChain, err := checkIssued("client", env.Data.Cert, clientKey.Public())
	if err != nil {
		return "", err
	}
	if _, err := checkIssued("server", env.Data.ServerCert, serverKey.Public()); err != nil {
		return "", err
	}
	caPEM := []byte(env.Data.CA)
	if len(bytes.TrimSpace(caPEM)) == 0 {
		for _, c := range cas {
			caPEM = append(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
	}
	if _, err := parseCertPool(caPEM); err != nil {
		return "", fmt.Errorf("CA bundle from the controller: %w", err)
	}
	clientKeyPEM, err := keyPEM(clientKey)
	if err != nil {
		return "", err
	}
	serverKeyPEM, err := keyPEM(serverKey)
	if err != nil {
		return "", err
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{cfg.Identity.Key, clientKeyPEM, 0o600},
		{cfg.Identity.ServerKey, serverKeyPEM, 0o600},
		{cfg.Identity.Cert, []byte(env.Data.Cert), 0o644},
		{cfg.Identity.ServerCert, []byte(env.Data.ServerCert), 0o644},
		{cfg.Identity.CA, caPEM, 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.data, f.mode); err != nil {
			return "", err
		}
	}
	return clientChain[0].Subject.CommonName, nil
}

// newCSR returns a PEM certificate request. san, when set, becomes an IP or DNS name.
func newCSR(key crypto.Signer, commonName, san string) (string, error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: commonName}}
	if san != "" {
		if ip := net.ParseIP(san); ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		} else {
			tmpl.DNSNames = []string{san}
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// checkIssued parses a PEM chain and checks that its leaf is for pub.
func checkIssued(what, chainPEM string, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	chain, err := parseCerts([]byte(chainPEM))
	if err != nil {
		return nil, fmt.Errorf("%s certificate from the controller: %w", what, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if k, ok := chain[0].PublicKey.(equaler); !ok || !k.Equal(pub) {
		return nil, fmt.Errorf("%s certificate from the controller is not for the key the router sent", what)
	}
	return chain, nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFileAtomic writes data to path through a temporary file in the same directory, so a
// reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

func parseCertPool(data []byte) (*x509.CertPool, error) {
	certs, err := parseCerts(data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

func newRun() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Serve the edge listener, kept current by the controller",
		Long: `Serves the edge listener and the links to other routers, with the state the controller
pushes (saved in dataDir, so that a restart while the controller is away keeps serving).
SIGTERM or Ctrl-C drains: the router accepts nothing new, asks its hosts to bind elsewhere
and lets open circuits finish for up to drainTimeout (10 s) before it stops; a second signal
stops it at once.`,
		Example: `  ostium-router run --config /etc/ostium/router.yml`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := router.LoadConfig(configPath)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// The first signal drains (drainTimeout); a second one ends the process at once.
			go func() {
				<-ctx.Done()
				stop()
			}()
			return router.Run(ctx, cfg)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "etc/router.yml", "router configuration file")
	return cmd
}
