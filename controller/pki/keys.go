package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// KeyAlgorithm names the kind of private key the authority generates.
type KeyAlgorithm string

// Supported key algorithms. ECDSA P-256 is the default.
const (
	KeyECDSAP256 KeyAlgorithm = "ecdsa-p256"
	KeyECDSAP384 KeyAlgorithm = "ecdsa-p384"
	KeyRSA2048   KeyAlgorithm = "rsa-2048"
	KeyRSA4096   KeyAlgorithm = "rsa-4096"
)

// DefaultKeyAlgorithm is used when no algorithm is configured.
const DefaultKeyAlgorithm = KeyECDSAP256

// ErrUnsupportedKey means a key's type or size is not one the authority accepts.
var ErrUnsupportedKey = errors.New("unsupported key")

// ParseKeyAlgorithm validates a configured algorithm name. The empty string
// selects DefaultKeyAlgorithm.
func ParseKeyAlgorithm(name string) (KeyAlgorithm, error) {
	alg := KeyAlgorithm(name)
	if alg == "" {
		return DefaultKeyAlgorithm, nil
	}
	switch alg {
	case KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyRSA4096:
		return alg, nil
	}
	return "", fmt.Errorf("key algorithm %q (want %s, %s, %s or %s): %w",
		name, KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyRSA4096, ErrUnsupportedKey)
}

// GenerateKey creates a new private key of the given algorithm. The empty
// algorithm selects DefaultKeyAlgorithm.
func GenerateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	alg, err := ParseKeyAlgorithm(string(alg))
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	switch alg {
	case KeyECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return key, nil
}

// MarshalPrivateKeyPEM encodes a private key as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes the first private key found in PEM data. It
// accepts PKCS#8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") and PKCS#1
// ("RSA PRIVATE KEY") blocks holding an ECDSA or RSA key; other blocks, such
// as "EC PARAMETERS" or certificates, are skipped. Encrypted keys are refused.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no private key PEM block found")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s block: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key of type %T: %w", key, ErrUnsupportedKey)
		}
		if err := checkPublicKey(signer.Public()); err != nil {
			return nil, err
		}
		return signer, nil
	}
}

// checkPublicKey accepts ECDSA keys on P-256, P-384 or P-521 and RSA keys of
// 2048 to 8192 bits.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("ECDSA curve %s: %w", k.Curve.Params().Name, ErrUnsupportedKey)
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < 2048 || bits > 8192 {
			return fmt.Errorf("RSA key of %d bits (want 2048 to 8192): %w", bits, ErrUnsupportedKey)
		}
		return nil
	}
	return fmt.Errorf("public key of type %T (want ECDSA or RSA): %w", pub, ErrUnsupportedKey)
}

// keyMatches reports whether the certificate carries the signer's public key.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}
