package pki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Names of the files Init creates in its directory.
const (
	RootCertFile         = "root-ca.cert"
	RootKeyFile          = "root-ca.key"
	IntermediateCertFile = "intermediate-ca.cert"
	IntermediateKeyFile  = "intermediate-ca.key"
	ServerCertFile       = "server.cert"
	ServerKeyFile        = "server.key"
)

// Default lifetimes of the certificates Init creates.
const (
	DefaultRootLifetime         = 10 * 365 * 24 * time.Hour
	DefaultIntermediateLifetime = 5 * 365 * 24 * time.Hour
	DefaultServerCertLifetime   = 365 * 24 * time.Hour
)

// DefaultCAName is the name Init puts in the subjects of the CAs it creates.
const DefaultCAName = "Ostium"

// InitOptions says what Init creates. Zero values select the defaults.
type InitOptions struct {
	// KeyAlgorithm of every generated key (default ecdsa-p256).
	KeyAlgorithm KeyAlgorithm
	// Name appears in the CA subjects ("<Name> Root CA", "<Name> Signing CA")
	// and as their organization (default "Ostium").
	Name string
	// DNSNames and IPAddresses are the server certificate's subject
	// alternative names: the addresses the controller is reached at. When
	// both are empty, "localhost" and 127.0.0.1 are used.
	DNSNames    []string
	IPAddresses []net.IP
	// Lifetimes of the root CA (10 years), the intermediate CA (5 years) and
	// the server certificate (1 year). A certificate never outlives its issuer.
	RootLifetime         time.Duration
	IntermediateLifetime time.Duration
	ServerLifetime       time.Duration
}

// Files holds the paths of the authority's files in one directory.
type Files struct {
	Dir string
	// RootCert and RootKey are the self-signed root CA.
	RootCert, RootKey string
	// SigningCert and SigningKey are the intermediate CA that signs
	// everything the controller issues.
	SigningCert, SigningKey string
	// ServerCert is the controller's TLS server certificate followed by the
	// intermediate CA; ServerKey is its key.
	ServerCert, ServerKey string
}

// Config returns a Config naming these files, with default lifetimes.
func (f *Files) Config() Config {
	return Config{
		RootCert:    f.RootCert,
		SigningCert: f.SigningCert,
		SigningKey:  f.SigningKey,
		ServerCert:  f.ServerCert,
		ServerKey:   f.ServerKey,
	}
}

// FilesIn returns the paths Init uses in dir, without touching the disk.
func FilesIn(dir string) *Files {
	return &Files{
		Dir:         dir,
		RootCert:    filepath.Join(dir, RootCertFile),
		RootKey:     filepath.Join(dir, RootKeyFile),
		SigningCert: filepath.Join(dir, IntermediateCertFile),
		SigningKey:  filepath.Join(dir, IntermediateKeyFile),
		ServerCert:  filepath.Join(dir, ServerCertFile),
		ServerKey:   filepath.Join(dir, ServerKeyFile),
	}
}

func (o InitOptions) withDefaults() (InitOptions, error) {
	alg, err := ParseKeyAlgorithm(string(o.KeyAlgorithm))
	if err != nil {
		return o, err
	}
	o.KeyAlgorithm = alg
	if o.Name == "" {
		o.Name = DefaultCAName
	}
	if len(o.DNSNames) == 0 && len(o.IPAddresses) == 0 {
		o.DNSNames = []string{"localhost"}
		o.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	for _, d := range []*time.Duration{&o.RootLifetime, &o.IntermediateLifetime, &o.ServerLifetime} {
		if *d < 0 {
			return o, fmt.Errorf("negative certificate lifetime %s", *d)
		}
	}
	if o.RootLifetime == 0 {
		o.RootLifetime = DefaultRootLifetime
	}
	if o.IntermediateLifetime == 0 {
		o.IntermediateLifetime = DefaultIntermediateLifetime
	}
	if o.ServerLifetime == 0 {
		o.ServerLifetime = DefaultServerCertLifetime
	}
	return o, nil
}

// Init makes sure dir holds a root CA, an intermediate signing CA and a
// server certificate, creating what is missing. The directory is created
// with mode 0700 and keys are written PEM-encoded with mode 0600.
//
// Init is idempotent: files that exist are kept as they are (keys are never
// overwritten) and only missing levels are generated, signed by the existing
// ones. It refuses a directory where a certificate is present without its key
// or the reverse, or where a lower level exists without the one that signs it.
func Init(dir string, opts InitOptions) (*Files, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki init: create directory: %w", err)
	}
	files := FilesIn(dir)

	var present [3]bool
	pairs := [3][2]string{
		{files.RootCert, files.RootKey},
		{files.SigningCert, files.SigningKey},
		{files.ServerCert, files.ServerKey},
	}
	for i, p := range pairs {
		if present[i], err = pairPresent(p[0], p[1]); err != nil && !(i == 0 && joinedRoot(files)) {
			return nil, fmt.Errorf("pki init: %w", err)
		}
	}
	if joinedRoot(files) {
		// A controller that joined a cluster holds the root certificate
		// without its key; only its own server certificate may be missing.
		if present[1] && present[2] {
			return files, nil
		}
		if present[1] {
			interCert, interKey, err := loadPair(files.SigningCert, files.SigningKey)
			if err != nil {
				return nil, fmt.Errorf("pki init: intermediate CA: %w", err)
			}
			if err := createServer(files, opts, time.Now(), interCert, interKey); err != nil {
				return nil, fmt.Errorf("pki init: server certificate: %w", err)
			}
			return files, nil
		}
	}
	if present[0] && present[1] && present[2] {
		return files, nil
	}
	if !present[0] && (present[1] || present[2]) || !present[1] && present[2] {
		return nil, fmt.Errorf("pki init: %s holds a certificate without the CA that signs it; remove the partial files or configure them explicitly", dir)
	}

	now := time.Now()
	var rootCert *x509.Certificate
	var rootKey crypto.Signer
	if present[0] {
		if rootCert, rootKey, err = loadPair(files.RootCert, files.RootKey); err != nil {
			return nil, fmt.Errorf("pki init: root CA: %w", err)
		}
	} else {
		if rootCert, rootKey, err = createRoot(files, opts, now); err != nil {
			return nil, fmt.Errorf("pki init: root CA: %w", err)
		}
	}

	var interCert *x509.Certificate
	var interKey crypto.Signer
	if present[1] {
		if interCert, interKey, err = loadPair(files.SigningCert, files.SigningKey); err != nil {
			return nil, fmt.Errorf("pki init: intermediate CA: %w", err)
		}
	} else {
		if interCert, interKey, err = createIntermediate(files, opts, now, rootCert, rootKey); err != nil {
			return nil, fmt.Errorf("pki init: intermediate CA: %w", err)
		}
	}

	if err := createServer(files, opts, now, interCert, interKey); err != nil {
		return nil, fmt.Errorf("pki init: server certificate: %w", err)
	}
	return files, nil
}

func createRoot(files *Files, opts InitOptions, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := GenerateKey(opts.KeyAlgorithm)
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.Name + " Root CA", Organization: []string{opts.Name}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(opts.RootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert, err := issue(template, template, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(files.RootCert, files.RootKey, key, cert); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func createIntermediate(files *Files, opts InitOptions, now time.Time, root *x509.Certificate, rootKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	key, err := GenerateKey(opts.KeyAlgorithm)
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.Name + " Signing CA", Organization: []string{opts.Name}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              capTime(now.Add(opts.IntermediateLifetime), root.NotAfter),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	cert, err := issue(template, root, key.Public(), rootKey)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(files.SigningCert, files.SigningKey, key, cert); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func createServer(files *Files, opts InitOptions, now time.Time, inter *x509.Certificate, interKey crypto.Signer) error {
	key, err := GenerateKey(opts.KeyAlgorithm)
	if err != nil {
		return err
	}
	cn := "ostium-controller"
	if len(opts.DNSNames) > 0 {
		cn = opts.DNSNames[0]
	} else if len(opts.IPAddresses) > 0 {
		cn = opts.IPAddresses[0].String()
	}
	template := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{opts.Name}, OrganizationalUnit: []string{ControllerOU}},
		NotBefore:   now.Add(-backdate),
		NotAfter:    capTime(now.Add(opts.ServerLifetime), inter.NotAfter),
		KeyUsage:    leafKeyUsage(key.Public()),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    opts.DNSNames,
		IPAddresses: opts.IPAddresses,
	}
	cert, err := issue(template, inter, key.Public(), interKey)
	if err != nil {
		return err
	}
	return writePair(files.ServerCert, files.ServerKey, key, cert, inter)
}

// capTime returns t, or limit when t is later.
func capTime(t, limit time.Time) time.Time {
	if t.After(limit) {
		return limit
	}
	return t
}

// joinedRoot reports a root certificate without its key beside a signing
// CA with its key: the PKI of a controller that joined a cluster.
func joinedRoot(files *Files) bool {
	rootCert, _ := exists(files.RootCert)
	rootKey, _ := exists(files.RootKey)
	signing, err := pairPresent(files.SigningCert, files.SigningKey)
	return rootCert && !rootKey && signing && err == nil
}

// pairPresent reports whether both files exist, and fails when only one does.
func pairPresent(certPath, keyPath string) (bool, error) {
	certOK, err := exists(certPath)
	if err != nil {
		return false, err
	}
	keyOK, err := exists(keyPath)
	if err != nil {
		return false, err
	}
	if certOK != keyOK {
		if certOK {
			return false, fmt.Errorf("%s exists but its key %s does not", certPath, keyPath)
		}
		return false, fmt.Errorf("%s exists but its certificate %s does not", keyPath, certPath)
	}
	return certOK, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("stat %s: %w", path, err)
}

// loadPair reads a certificate file (its first certificate is used) and the
// matching key file.
func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certs, err := readCertificates(certPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, nil, err
	}
	if !keyMatches(certs[0], key) {
		return nil, nil, fmt.Errorf("key %s does not match certificate %s", keyPath, certPath)
	}
	return certs[0], key, nil
}

// writePair writes the key (mode 0600) and then the certificates (mode 0644).
// Neither file may exist already.
func writePair(certPath, keyPath string, key crypto.Signer, certs ...*x509.Certificate) error {
	keyPEM, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		return err
	}
	if err := writeNewFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeNewFile(certPath, EncodeCertificatesPEM(certs...), 0o644)
}

// writeNewFile creates path with the given mode, refusing to replace an
// existing file, and flushes it to disk. A partly written file is removed.
func writeNewFile(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(path)
		}
	}()
	// The umask may have narrowed the mode; set it exactly.
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

func readCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate file: %w", err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	key, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}
