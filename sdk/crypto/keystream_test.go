package crypto

import (
	"bytes"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/chacha20"
)

// TestXorFromBlock2MatchesChaCha20 checks the AEAD-derived keystream against
// plain ChaCha20 from block 2, for sizes on both sides of the switch and not
// multiples of the block size.
func TestXorFromBlock2MatchesChaCha20(t *testing.T) {
	var key [KeySize]byte
	var nonce [counterSize + inonceSize]byte
	for _, size := range []int{0, 1, 63, 64, 65, fastKeystreamMin - 1, fastKeystreamMin, fastKeystreamMin + 1, 4093, 16 << 10, 32<<10 + 17, 64 << 10} {
		if _, err := rand.Read(key[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := rand.Read(nonce[:]); err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, size)
		if _, err := rand.Read(msg); err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), msg...)
		c, err := chacha20.NewUnauthenticatedCipher(key[:], nonce[:])
		if err != nil {
			t.Fatal(err)
		}
		c.SetCounter(2)
		c.XORKeyStream(want, want)

		got := append([]byte(nil), msg...)
		xorFromBlock2(&key, &nonce, got)
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: keystream differs from ChaCha20 at block 2", size)
		}
		xorFromBlock2(&key, &nonce, got)
		if !bytes.Equal(got, msg) {
			t.Fatalf("size %d: applying the keystream twice does not give the message back", size)
		}
	}
}
