package crypto

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/curve25519"
)

// Sizes of crypto_kx keys.
const (
	PublicKeySize  = 32 // X25519 public key
	SecretKeySize  = 32 // X25519 secret scalar
	SessionKeySize = 32 // each of the rx and tx keys
)

// GenerateKeyPair returns a fresh X25519 key pair, as libsodium's
// crypto_kx_keypair does: a random secret and its product with the base point.
func GenerateKeyPair() (pub [PublicKeySize]byte, priv [SecretKeySize]byte, err error) {
	if _, err := rand.Read(priv[:]); err != nil {
		return pub, priv, fmt.Errorf("generate kx secret key: %w", err)
	}
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return pub, priv, fmt.Errorf("derive kx public key: %w", err)
	}
	copy(pub[:], p)
	return pub, priv, nil
}

// ClientSessionKeys computes the dialing side's session keys, as libsodium's
// crypto_kx_client_session_keys does. rx decrypts what the server sends and
// tx encrypts what the client sends. It fails when the server's public key is
// a low-order point (the shared secret would be all zero).
func ClientSessionKeys(clientPub [PublicKeySize]byte, clientPriv [SecretKeySize]byte, serverPub [PublicKeySize]byte) (rx, tx [SessionKeySize]byte, err error) {
	digest, err := kxDigest(clientPriv, serverPub, clientPub, serverPub)
	if err != nil {
		return rx, tx, fmt.Errorf("client session keys: %w", err)
	}
	copy(rx[:], digest[:SessionKeySize])
	copy(tx[:], digest[SessionKeySize:])
	clear(digest[:])
	return rx, tx, nil
}

// ServerSessionKeys computes the hosting side's session keys, as libsodium's
// crypto_kx_server_session_keys does. Its rx equals the client's tx and its
// tx equals the client's rx. It fails when the client's public key is a
// low-order point.
func ServerSessionKeys(serverPub [PublicKeySize]byte, serverPriv [SecretKeySize]byte, clientPub [PublicKeySize]byte) (rx, tx [SessionKeySize]byte, err error) {
	digest, err := kxDigest(serverPriv, clientPub, clientPub, serverPub)
	if err != nil {
		return rx, tx, fmt.Errorf("server session keys: %w", err)
	}
	copy(rx[:], digest[SessionKeySize:])
	copy(tx[:], digest[:SessionKeySize])
	clear(digest[:])
	return rx, tx, nil
}

// kxDigest returns BLAKE2b-512(X25519(priv, peerPub) ‖ clientPub ‖ serverPub).
func kxDigest(priv [SecretKeySize]byte, peerPub, clientPub, serverPub [PublicKeySize]byte) ([blake2b.Size]byte, error) {
	var digest [blake2b.Size]byte
	shared, err := curve25519.X25519(priv[:], peerPub[:])
	if err != nil {
		return digest, fmt.Errorf("x25519 with peer public key: %w", err)
	}
	h, err := blake2b.New512(nil)
	if err != nil {
		return digest, fmt.Errorf("blake2b-512: %w", err)
	}
	h.Write(shared)
	h.Write(clientPub[:])
	h.Write(serverPub[:])
	h.Sum(digest[:0])
	clear(shared)
	return digest, nil
}
