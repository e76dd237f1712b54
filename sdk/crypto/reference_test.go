package crypto

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"golang.org/x/crypto/chacha20"
	//lint:ignore SA1019 libsodium's secretstream is built on raw Poly1305; the one-time key comes from ChaCha20 as the construction requires.
	"golang.org/x/crypto/poly1305"
)

// This file holds a deliberately plain model of libsodium's
// crypto_secretstream_xchacha20poly1305, written from its documented
// construction and sharing no code with the package. Each keystream is taken
// from a fresh cipher positioned with SetCounter, the MAC input is assembled
// in one buffer and authenticated in one call, and HChaCha20 is computed from
// the ChaCha20 quarter round directly.

// refHChaCha20 is HChaCha20 as defined in draft-irtf-cfrg-xchacha, section 2.2.
func refHChaCha20(key [32]byte, input [16]byte) [32]byte {
	var x [16]uint32
	x[0], x[1], x[2], x[3] = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	for i := 0; i < 8; i++ {
		x[4+i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	for i := 0; i < 4; i++ {
		x[12+i] = binary.LittleEndian.Uint32(input[4*i:])
	}
	quarter := func(a, b, c, d int) {
		x[a] += x[b]
		x[d] = bits.RotateLeft32(x[d]^x[a], 16)
		x[c] += x[d]
		x[b] = bits.RotateLeft32(x[b]^x[c], 12)
		x[a] += x[b]
		x[d] = bits.RotateLeft32(x[d]^x[a], 8)
		x[c] += x[d]
		x[b] = bits.RotateLeft32(x[b]^x[c], 7)
	}
	for round := 0; round < 10; round++ {
		quarter(0, 4, 8, 12)
		quarter(1, 5, 9, 13)
		quarter(2, 6, 10, 14)
		quarter(3, 7, 11, 15)
		quarter(0, 5, 10, 15)
		quarter(1, 6, 11, 12)
		quarter(2, 7, 8, 13)
		quarter(3, 4, 9, 14)
	}
	var out [32]byte
	for i, w := range []uint32{x[0], x[1], x[2], x[3], x[12], x[13], x[14], x[15]} {
		binary.LittleEndian.PutUint32(out[4*i:], w)
	}
	return out
}

// refStream mirrors crypto_secretstream_xchacha20poly1305_state.
type refStream struct {
	k     [32]byte
	nonce [12]byte // counter (4 bytes, little endian) ‖ inonce (8 bytes)
}

func refInit(key [32]byte, header [24]byte) *refStream {
	s := &refStream{k: refHChaCha20(key, [16]byte(header[:16]))}
	s.nonce[0] = 1
	copy(s.nonce[4:], header[16:])
	return s
}

// keystream returns n bytes of ChaCha20 (IETF) output from block counter on.
func (s *refStream) keystream(counter uint32, n int) []byte {
	c, err := chacha20.NewUnauthenticatedCipher(s.k[:], s.nonce[:])
	if err != nil {
		panic(err)
	}
	c.SetCounter(counter)
	out := make([]byte, n)
	c.XORKeyStream(out, out)
	return out
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// mac computes the chunk MAC from the encrypted 64-byte tag block and the
// ciphertext.
func (s *refStream) mac(ad, tagBlock, ciphertext []byte) [16]byte {
	var polyKey [32]byte
	copy(polyKey[:], s.keystream(0, 64)[:32])

	var in []byte
	in = append(in, ad...)
	in = append(in, make([]byte, (16-len(ad)%16)%16)...)
	in = append(in, tagBlock...)
	in = append(in, ciphertext...)
	// libsodium pads here with (0x10 - 64 + mlen) & 0xf zero bytes, which
	// is mlen mod 16 rather than the amount that would align the input.
	// The maintainers keep it for compatibility (libsodium issue #976).
	in = append(in, make([]byte, len(ciphertext)%16)...)
	in = binary.LittleEndian.AppendUint64(in, uint64(len(ad)))
	in = binary.LittleEndian.AppendUint64(in, uint64(64+len(ciphertext)))

	var out [16]byte
	poly1305.Sum(&out, in, &polyKey)
	return out
}

func (s *refStream) push(msg, ad []byte, tag byte) []byte {
	tagBlock := make([]byte, 64)
	tagBlock[0] = tag
	xorInto(tagBlock, s.keystream(1, 64))

	ciphertext := bytes.Clone(msg)
	xorInto(ciphertext, s.keystream(2, len(msg)))

	mac := s.mac(ad, tagBlock, ciphertext)
	out := append([]byte{tagBlock[0]}, ciphertext...)
	out = append(out, mac[:]...)
	s.next(mac, tag)
	return out
}

func (s *refStream) pull(chunk, ad []byte) (msg []byte, tag byte, ok bool) {
	if len(chunk) < 17 {
		return nil, 0, false
	}
	ciphertext := chunk[1 : len(chunk)-16]
	ks := s.keystream(1, 64)
	tag = chunk[0] ^ ks[0]
	tagBlock := bytes.Clone(ks)
	tagBlock[0] = chunk[0]
	mac := s.mac(ad, tagBlock, ciphertext)
	if !bytes.Equal(mac[:], chunk[len(chunk)-16:]) {
		return nil, 0, false
	}
	msg = bytes.Clone(ciphertext)
	xorInto(msg, s.keystream(2, len(msg)))
	s.next(mac, tag)
	return msg, tag, true
}

func (s *refStream) next(mac [16]byte, tag byte) {
	for i := 0; i < 8; i++ {
		s.nonce[4+i] ^= mac[i]
	}
	// Little-endian increment of the 4-byte counter, byte by byte.
	for i := 0; i < 4; i++ {
		s.nonce[i]++
		if s.nonce[i] != 0 {
			break
		}
	}
	wrapped := s.nonce[0] == 0 && s.nonce[1] == 0 && s.nonce[2] == 0 && s.nonce[3] == 0
	if tag&0x02 != 0 || wrapped {
		s.rekey()
	}
}

func (s *refStream) rekey() {
	buf := append(bytes.Clone(s.k[:]), s.nonce[4:]...)
	xorInto(buf, s.keystream(0, len(buf)))
	copy(s.k[:], buf[:32])
	copy(s.nonce[4:], buf[32:])
	s.nonce = [12]byte{1, 0, 0, 0, s.nonce[4], s.nonce[5], s.nonce[6], s.nonce[7], s.nonce[8], s.nonce[9], s.nonce[10], s.nonce[11]}
}
