// Package identity owns Ostium identity files: the JSON form OpenZiti clients
// also use ({"ztAPI": ..., "id": {"key", "cert", "ca"}}), where each of key,
// cert and ca is either "pem:<PEM text>" or a path to a PEM file. It loads
// them into a private key, a certificate chain and a CA pool, and builds the
// TLS configurations the sdk uses towards controllers and routers.
package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MaxFileSize bounds an identity file and each PEM file it names.
const MaxFileSize = 1 << 20

// File is the JSON form of an identity.
type File struct {
	// ZtAPI is the controller's client API base URL, e.g. https://ctrl:1280.
	ZtAPI string `json:"ztAPI"`
	// ZtAPIs lists every known controller (HA); optional.
	ZtAPIs []string `json:"ztAPIs,omitempty"`
	ID     Material `json:"id"`
	// ConfigTypes are requested when listing services; optional.
	ConfigTypes []string `json:"configTypes,omitempty"`
}

// Material holds the key, certificate and CA bundle, each "pem:..." or a path.
type Material struct {
	Key  string `json:"key"`
	Cert string `json:"cert"`
	CA   string `json:"ca"`
}

// Identity is a loaded identity.
type Identity struct {
	// ControllerURL is the controller's client API base URL.
	ControllerURL string
	// Controllers lists every known controller URL, ControllerURL first.
	Controllers []string
	Key         crypto.Signer
	// Chain is the client certificate followed by any intermediates.
	Chain []*x509.Certificate
	// CAs are the network's trusted CAs (from cacerts at enrollment).
	CAs         *x509.CertPool
	CACerts     []*x509.Certificate
	ConfigTypes []string
}

// Load reads an identity file. Relative PEM paths are taken relative to the
// file's directory.
func Load(path string) (*Identity, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("read identity %s: %w", path, err)
	}
	if looksLikeJWT(data) {
		return nil, fmt.Errorf("%s is an enrollment JWT, not an identity file: enroll it first (ostium enroll %s -o IDENTITY.json) and give the identity file it writes", path, path)
	}
	id, err := Parse(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	return id, nil
}

// looksLikeJWT reports content that is a compact JWS (three base64url parts,
// a JSON header first) rather than JSON.
func looksLikeJWT(data []byte) bool {
	s := strings.TrimSpace(string(data))
	if !strings.HasPrefix(s, "eyJ") || strings.Count(s, ".") != 2 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '=')
	})
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", path, st.Size(), MaxFileSize)
	}
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// Parse decodes an identity from its JSON; baseDir resolves relative paths.
func Parse(data []byte, baseDir string) (*Identity, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("identity is %d bytes, more than %d", len(data), MaxFileSize)
	}
	var f File
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode identity JSON: %w", err)
	}
	if f.ZtAPI == "" && len(f.ZtAPIs) == 0 {
		return nil, errors.New("identity names no controller (ztAPI)")
	}
	keyPEM, err := material(f.ID.Key, baseDir)
	if err != nil {
		return nil, fmt.Errorf("id.key: %w", err)
	}
	certPEM, err := material(f.ID.Cert, baseDir)
	if err != nil {
		return nil, fmt.Errorf("id.cert: %w", err)
	}
	caPEM, err := material(f.ID.CA, baseDir)
	if err != nil {
		return nil, fmt.Errorf("id.ca: %w", err)
	}
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("id.key: %w", err)
	}
	chain, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("id.cert: %w", err)
	}
	if len(chain) == 0 {
		return nil, errors.New("id.cert holds no certificate")
	}
	if !publicKeysEqual(key.Public(), chain[0].PublicKey) {
		return nil, errors.New("id.key does not match id.cert")
	}
	cas, err := ParseCertificates(caPEM)
	if err != nil {
		return nil, fmt.Errorf("id.ca: %w", err)
	}
	if len(cas) == 0 {
		return nil, errors.New("id.ca holds no certificate")
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	id := &Identity{ControllerURL: f.ZtAPI, Key: key, Chain: chain, CAs: pool, CACerts: cas, ConfigTypes: f.ConfigTypes}
	if id.ControllerURL == "" {
		id.ControllerURL = f.ZtAPIs[0]
	}
	id.Controllers = append(id.Controllers, id.ControllerURL)
	for _, u := range f.ZtAPIs {
		if u != id.ControllerURL {
			id.Controllers = append(id.Controllers, u)
		}
	}
	return id, nil
}

func material(v, baseDir string) ([]byte, error) {
	switch {
	case v == "":
		return nil, errors.New("missing")
	case strings.HasPrefix(v, "pem:"):
		return []byte(strings.TrimPrefix(v, "pem:")), nil
	case strings.HasPrefix(v, "file://"):
		v = strings.TrimPrefix(v, "file://")
	}
	if !filepath.IsAbs(v) && baseDir != "" {
		v = filepath.Join(baseDir, v)
	}
	return readBounded(v)
}

// ParsePrivateKey reads a PEM private key (PKCS#8, SEC1 EC or PKCS#1 RSA).
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported key type %T", k)
			}
			return s, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse EC key: %w", err)
			}
			return k, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse RSA key: %w", err)
			}
			return k, nil
		}
	}
}

// ParseCertificates reads every CERTIFICATE block of a PEM text.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out, nil
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
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch k := a.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return k.(equaler).Equal(b)
	}
	return false
}

// Fingerprint is the lowercase hex SHA-1 of the client certificate, the key
// by which controllers and routers know it.
func (id *Identity) Fingerprint() string {
	sum := sha1.Sum(id.Chain[0].Raw)
	return hex.EncodeToString(sum[:])
}

// Certificate is the client certificate as a tls.Certificate.
func (id *Identity) Certificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: id.Key, Leaf: id.Chain[0]}
	for _, x := range id.Chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// ClientTLS is the TLS configuration towards controllers and routers: it
// presents the identity's certificate and trusts only the network's CAs.
func (id *Identity) ClientTLS() *tls.Config {
	cert := id.Certificate()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      id.CAs,
		Certificates: []tls.Certificate{cert},
	}
}

// Marshal writes the identity as JSON with its material inline ("pem:...").
func (id *Identity) Marshal() ([]byte, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	var certs, cas strings.Builder
	for _, c := range id.Chain {
		_ = pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	for _, c := range id.CACerts {
		_ = pem.Encode(&cas, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	f := File{ZtAPI: id.ControllerURL, ConfigTypes: id.ConfigTypes, ID: Material{
		Key:  "pem:" + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		Cert: "pem:" + certs.String(),
		CA:   "pem:" + cas.String(),
	}}
	if len(id.Controllers) > 1 {
		f.ZtAPIs = id.Controllers
	}
	return json.MarshalIndent(f, "", "  ")
}

// Save writes the identity to path with its material inline. The write is atomic: the data
// goes to a temporary file in the same directory, is flushed to disk and then renamed over
// path, so that a crash leaves the old file or the new one, never a torn one. A file that
// exists keeps its permissions (a link is followed and its target replaced); a new one gets
// mode 0600.
func (id *Identity) Save(path string) error {
	data, err := id.Marshal()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}

// WriteFileAtomic replaces path with data as Save does.
func WriteFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	// The rename is durable once the directory is flushed; not every system can.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
