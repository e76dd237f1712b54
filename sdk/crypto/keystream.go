package crypto

import (
	"sync"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
)

// fastKeystreamMin is the smallest message whose keystream is taken from
// the ChaCha20-Poly1305 AEAD rather than from plain ChaCha20. The AEAD has
// assembly on amd64 where plain ChaCha20 has none; on top of the message it
// costs a 64-byte block, two copies and a Poly1305 tag that is thrown away,
// which pays off from a few hundred bytes on.
const fastKeystreamMin = 512

// aeadScratch holds the buffers xorFromBlock2 lays messages out in.
var aeadScratch sync.Pool

// xorFromBlock2 XORs buf with the ChaCha20 (IETF) keystream of key and nonce
// from block 2 on, where secretstream puts a chunk's message.
//
// The AEAD encrypts its plaintext with the same keystream from block 1 on
// (block 0 keys its Poly1305), so sealing one zero block followed by buf
// yields buf XOR keystream(2, 3, ...) after that block; the AEAD's tag is
// not used. Decryption is the same XOR, so both directions use it.
func xorFromBlock2(key *[KeySize]byte, nonce *[counterSize + inonceSize]byte, buf []byte) {
	if len(buf) < fastKeystreamMin {
		c, err := chacha20.NewUnauthenticatedCipher(key[:], nonce[:])
		if err != nil {
			panic("secretstream: chacha20 rejected fixed-size input: " + err.Error())
		}
		c.SetCounter(2)
		c.XORKeyStream(buf, buf)
		return
	}
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("secretstream: chacha20poly1305 rejected fixed-size input: " + err.Error())
	}
	need := blockSize + len(buf) + chacha20poly1305.Overhead
	sp, _ := aeadScratch.Get().(*[]byte)
	if sp == nil || cap(*sp) < need {
		b := make([]byte, need)
		sp = &b
	}
	laid := (*sp)[:blockSize+len(buf)]
	clear(laid[:blockSize])
	copy(laid[blockSize:], buf)
	aead.Seal(laid[:0], nonce[:], laid, nil)
	copy(buf, laid[blockSize:])
	clear(laid) // the keystream block and the plaintext or ciphertext do not linger
	aeadScratch.Put(sp)
}
