package renew

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxResponse bounds the answers read from the controller.
const maxResponse = 1 << 20

// ResponseError is an error answer of the controller.
type ResponseError struct {
	Status  int
	Code    string
	Message string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("controller answered %d %s: %s", e.Status, e.Code, e.Message)
}

// ExtendIdentity renews the certificate of an identity's certificate
// authenticator through the client API at apiBase (for example
// https://ctrl:1280/edge/client/v1) with the API session token: it sends a
// CSR for key to .../authenticators/{id}/extend, then proves it holds the
// issued certificate with extend-verify. It returns the new chain, leaf
// first. The old certificate stays valid until extend-verify succeeds.
func ExtendIdentity(ctx context.Context, httpClient *http.Client, apiBase, token, authenticatorID string, key crypto.Signer) ([]*x509.Certificate, error) {
	csr, err := certificateRequest(key, "identity", nil, nil)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(apiBase, "/") + "/current-identity/authenticators/" + url.PathEscape(authenticatorID)
	var issued struct {
		ClientCert string `json:"clientCert"`
		CA         string `json:"ca"`
	}
	if err := call(ctx, httpClient, base+"/extend", token, map[string]string{"clientCertCsr": string(csr)}, &issued); err != nil {
		return nil, fmt.Errorf("extend authenticator %s: %w", authenticatorID, err)
	}
	chain, err := parseChain(issued.ClientCert)
	if err != nil {
		return nil, fmt.Errorf("extend authenticator %s: %w", authenticatorID, err)
	}
	if err := call(ctx, httpClient, base+"/extend-verify", token, map[string]string{"clientCert": issued.ClientCert}, nil); err != nil {
		return nil, fmt.Errorf("verify extension of authenticator %s: %w", authenticatorID, err)
	}
	return chain, nil
}

// RouterCerts are the certificates of a router extension.
type RouterCerts struct {
	// Client and Server are chains, leaf first.
	Client, Server []*x509.Certificate
	// CAs is the controller's CA bundle.
	CAs []*x509.Certificate
}

// ExtendRouter renews a router's client and server certificates, both for
// key, through POST {apiBase}/enroll/extend/router. httpClient must present
// the router's current client certificate and must not reuse a connection
// made with an earlier one: the controller identifies the router by the
// certificate of the TLS connection, and refuses the old certificate as soon
// as the extension succeeds. dnsNames and ips are the server certificate's
// subject alternative names.
func ExtendRouter(ctx context.Context, httpClient *http.Client, apiBase string, key crypto.Signer, dnsNames []string, ips []net.IP) (*RouterCerts, error) {
	clientCSR, err := certificateRequest(key, "router", nil, nil)
	if err != nil {
		return nil, err
	}
	serverCSR, err := certificateRequest(key, "router", dnsNames, ips)
	if err != nil {
		return nil, err
	}
	var issued struct {
		Cert       string `json:"cert"`
		ServerCert string `json:"serverCert"`
		CA         string `json:"ca"`
	}
	body := map[string]string{"certCsr": string(clientCSR), "serverCertCsr": string(serverCSR)}
	if err := call(ctx, httpClient, strings.TrimSuffix(apiBase, "/")+"/enroll/extend/router", "", body, &issued); err != nil {
		return nil, fmt.Errorf("extend router: %w", err)
	}
	out := &RouterCerts{}
	if out.Client, err = parseChain(issued.Cert); err != nil {
		return nil, fmt.Errorf("extend router: client certificate: %w", err)
	}
	if out.Server, err = parseChain(issued.ServerCert); err != nil {
		return nil, fmt.Errorf("extend router: server certificate: %w", err)
	}
	if issued.CA != "" {
		if out.CAs, err = parseChain(issued.CA); err != nil {
			return nil, fmt.Errorf("extend router: CA bundle: %w", err)
		}
	}
	return out, nil
}

// certificateRequest makes a PEM CSR for key. The controller sets the
// subject itself; the common name here is only a placeholder.
func certificateRequest(key crypto.Signer, cn string, dnsNames []string, ips []net.IP) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn}, DNSNames: dnsNames, IPAddresses: ips,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// parseChain decodes the PEM certificates of an answer.
func parseChain(text string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
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
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate in the answer")
	}
	return out, nil
}

// call POSTs body as JSON and decodes the data of the envelope into out
// (when not nil).
func call(ctx context.Context, httpClient *http.Client, url, token string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("zt-session", token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	decodeErr := json.Unmarshal(raw, &env)
	if resp.StatusCode/100 != 2 {
		e := &ResponseError{Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
		if decodeErr == nil && env.Error != nil {
			e.Code, e.Message = env.Error.Code, env.Error.Message
		}
		return e
	}
	if decodeErr != nil {
		return fmt.Errorf("decode answer: %w", decodeErr)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("decode answer data: %w", err)
		}
	}
	return nil
}
