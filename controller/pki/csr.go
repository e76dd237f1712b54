package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"mime"
	"net"
)

// MaxCSRSize bounds the size of a certificate request ParseCSR accepts.
const MaxCSRSize = 64 << 10

// ErrInvalidCSR means a certificate request could not be parsed, is not
// signed by its key, or carries a key the authority does not accept.
var ErrInvalidCSR = errors.New("invalid certificate signing request")

// ParseCSR decodes a PKCS#10 certificate request as clients send it: PEM
// ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"), raw DER, or base64 of
// DER (as with application/pkcs10). The encoding is recognised from the data
// itself; contentType only serves the error messages. Input larger than
// MaxCSRSize is refused. Every error wraps ErrInvalidCSR.
//
// ParseCSR does not check the request's signature; the Sign methods do.
func ParseCSR(data []byte, contentType string) (*x509.CertificateRequest, error) {
	csr, err := parseCSR(data)
	if err != nil {
		if mediaType, _, perr := mime.ParseMediaType(contentType); perr == nil {
			return nil, fmt.Errorf("%w (%s): %v", ErrInvalidCSR, mediaType, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidCSR, err)
	}
	return csr, nil
}

func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > MaxCSRSize {
		return nil, fmt.Errorf("request of %d bytes exceeds the limit of %d", len(data), MaxCSRSize)
	}
	var derErr error
	if len(data) > 0 && data[0] == 0x30 {
		// A DER request is a SEQUENCE (0x30); parse it untrimmed, as its last
		// bytes may look like whitespace. Base64 text can begin with the
		// character '0' too, so fall through to base64 if DER does not parse.
		csr, err := x509.ParseCertificateRequest(data)
		if err == nil {
			return csr, nil
		}
		derErr = err
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("request is empty")
	}
	if bytes.Contains(trimmed, []byte("-----BEGIN")) {
		return parseCSRPEM(trimmed)
	}
	der, err := decodeBase64(trimmed)
	if err != nil {
		if derErr != nil {
			return nil, fmt.Errorf("neither DER (%v) nor base64 (%v)", derErr, err)
		}
		return nil, fmt.Errorf("not PEM, DER or base64: %v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("parse base64 DER request: %v", err)
	}
	return csr, nil
}

func parseCSRPEM(data []byte) (*x509.CertificateRequest, error) {
	var found []string
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PEM %s: %v", block.Type, err)
			}
			return csr, nil
		}
		found = append(found, block.Type)
	}
	if len(found) == 0 {
		return nil, errors.New("malformed PEM: no complete block")
	}
	return nil, fmt.Errorf("no CERTIFICATE REQUEST PEM block (found %q)", found)
}

// decodeBase64 decodes standard or URL-safe base64, padded or not, ignoring
// whitespace.
func decodeBase64(text []byte) ([]byte, error) {
	compact := bytes.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, text)
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		der, err := enc.DecodeString(string(compact))
		if err == nil {
			return der, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// GenerateCSR creates a PEM "CERTIFICATE REQUEST" for key with the given
// common name and subject alternative names.
func GenerateCSR(key crypto.Signer, cn string, dns []string, ips []net.IP) ([]byte, error) {
	template := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    dns,
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, template, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
