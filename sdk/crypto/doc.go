// Package crypto owns the end-to-end encryption of Ostium's data plane.
//
// Services that require encryption protect every Data payload between the
// dialing SDK and the hosting SDK, so that edge routers relay only ciphertext.
// The construction is the one OpenZiti SDKs build with libsodium, and this
// package is byte-compatible with it while using only golang.org/x/crypto:
//
//   - Key exchange follows libsodium's crypto_kx: an X25519 shared secret is
//     hashed with BLAKE2b-512 together with both public keys, and the 64-byte
//     digest is split into a receive key and a transmit key
//     (see [ClientSessionKeys] and [ServerSessionKeys]).
//   - Each direction is a libsodium crypto_secretstream_xchacha20poly1305
//     stream (see [Encryptor] and [Decryptor]).
//   - On the wire, the first Data message each side sends is its 24-byte
//     stream header, and every later Data message is exactly one encrypted
//     chunk with tag [TagMessage] (see [Sender] and [Receiver]).
package crypto
