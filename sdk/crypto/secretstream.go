package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20"
	//lint:ignore SA1019 libsodium's secretstream is built on raw Poly1305; the one-time key comes from ChaCha20 as the construction requires.
	"golang.org/x/crypto/poly1305"
)

// Sizes and limits of crypto_secretstream_xchacha20poly1305.
const (
	KeySize    = 32 // stream key
	HeaderSize = 24 // stream header, sent in clear before the first chunk
	ABytes     = 17 // bytes each chunk adds: encrypted tag (1) and MAC (16)

	// MessageBytesMax is the largest plaintext a single chunk may carry: the
	// message keystream starts at ChaCha20 block 2 and the 32-bit block
	// counter must not wrap.
	MessageBytesMax = 64 * ((1 << 32) - 2)
)

// Chunk tags. A tag travels encrypted inside its chunk.
const (
	TagMessage byte = 0x00 // ordinary chunk
	TagPush    byte = 0x01 // end of a logical message
	TagRekey   byte = 0x02 // both sides derive a new key after this chunk
	TagFinal   byte = TagPush | TagRekey
)

const (
	counterSize = 4 // little-endian chunk counter at the front of the nonce
	inonceSize  = 8 // the rest of the 12-byte ChaCha20 nonce
	blockSize   = 64
	macSize     = poly1305.TagSize
)

var (
	// ErrTruncated is returned by [Decryptor.Open] for input shorter than
	// [ABytes] or longer than a chunk can be.
	ErrTruncated = errors.New("secretstream: chunk has an impossible length")
	// ErrForged is returned by [Decryptor.Open] when the MAC does not verify:
	// the chunk was altered, is out of order, replayed, or from another stream.
	ErrForged = errors.New("secretstream: chunk failed authentication")
)

// streamState is libsodium's crypto_secretstream_xchacha20poly1305_state:
// the current ChaCha20 key and the 12-byte nonce made of a 4-byte
// little-endian counter followed by the 8-byte inonce.
type streamState struct {
	key   [KeySize]byte
	nonce [counterSize + inonceSize]byte
}

func (s *streamState) init(key [KeySize]byte, header [HeaderSize]byte) {
	subkey, err := chacha20.HChaCha20(key[:], header[:16])
	if err != nil {
		panic("secretstream: HChaCha20 rejected fixed-size input: " + err.Error())
	}
	copy(s.key[:], subkey)
	clear(subkey)
	copy(s.nonce[counterSize:], header[16:])
	s.resetCounter()
}

func (s *streamState) resetCounter() {
	binary.LittleEndian.PutUint32(s.nonce[:counterSize], 1)
}

func (s *streamState) counter() uint32 {
	return binary.LittleEndian.Uint32(s.nonce[:counterSize])
}

func (s *streamState) setCounter(c uint32) {
	binary.LittleEndian.PutUint32(s.nonce[:counterSize], c)
}

// cipher returns ChaCha20 (IETF variant) keyed with the current state, at
// block 0.
func (s *streamState) cipher() *chacha20.Cipher {
	c, err := chacha20.NewUnauthenticatedCipher(s.key[:], s.nonce[:])
	if err != nil {
		panic("secretstream: chacha20 rejected fixed-size input: " + err.Error())
	}
	return c
}

// rekey replaces the key and inonce with the ChaCha20 encryption of
// themselves under the current key and nonce, and resets the counter.
func (s *streamState) rekey() {
	var buf [KeySize + inonceSize]byte
	copy(buf[:KeySize], s.key[:])
	copy(buf[KeySize:], s.nonce[counterSize:])
	s.cipher().XORKeyStream(buf[:], buf[:])
	copy(s.key[:], buf[:KeySize])
	copy(s.nonce[counterSize:], buf[KeySize:])
	clear(buf[:])
	s.resetCounter()
}

// advance moves the state past a chunk with the given MAC and tag.
func (s *streamState) advance(mac *[macSize]byte, tag byte) {
	inonce := s.nonce[counterSize:]
	subtle.XORBytes(inonce, inonce, mac[:inonceSize])
	next := s.counter() + 1
	s.setCounter(next)
	if tag&TagRekey != 0 || next == 0 {
		s.rekey()
	}
}

// begin starts a chunk: it returns the ChaCha20 keystream positioned at
// block 1 and a Poly1305 MAC keyed with block 0 that has absorbed the padded
// associated data.
func (s *streamState) begin(ad []byte) (*chacha20.Cipher, *poly1305.MAC) {
	stream := s.cipher()
	var block [blockSize]byte
	stream.XORKeyStream(block[:], block[:])
	var macKey [32]byte
	copy(macKey[:], block[:32])
	mac := poly1305.New(&macKey)
	clear(block[:])
	clear(macKey[:])
	mac.Write(ad)
	mac.Write(zeroPad[:(0x10-len(ad))&0xf])
	return stream, mac
}

var zeroPad [16]byte

// finish absorbs the ciphertext and the length trailer. The ciphertext
// padding reproduces libsodium's expression (0x10 - 64 + mlen) & 0xf, which
// equals mlen mod 16; it is part of the wire format, so it is kept as is.
func finish(mac *poly1305.MAC, adLen int, ciphertext []byte) {
	mac.Write(ciphertext)
	mac.Write(zeroPad[:(0x10-blockSize+len(ciphertext))&0xf])
	var lengths [16]byte
	binary.LittleEndian.PutUint64(lengths[:8], uint64(adLen))
	binary.LittleEndian.PutUint64(lengths[8:], uint64(blockSize)+uint64(len(ciphertext)))
	mac.Write(lengths[:])
}

// Encryptor is the sending half of a secretstream. It is not safe for
// concurrent use.
type Encryptor struct {
	state streamState
}

// NewEncryptor starts a stream under key with a random header, which the
// receiver needs before the first chunk.
func NewEncryptor(key [KeySize]byte) (*Encryptor, [HeaderSize]byte, error) {
	var header [HeaderSize]byte
	if _, err := rand.Read(header[:]); err != nil {
		return nil, header, fmt.Errorf("generate secretstream header: %w", err)
	}
	return newEncryptorWithHeader(key, header), header, nil
}

func newEncryptorWithHeader(key [KeySize]byte, header [HeaderSize]byte) *Encryptor {
	e := &Encryptor{}
	e.state.init(key, header)
	return e
}

// Seal encrypts msg as the next chunk with the given tag, authenticating ad
// as well, appends the chunk (len(msg)+[ABytes] bytes) to dst and returns the
// result. dst may alias msg or ad. Seal panics if msg is longer than
// [MessageBytesMax].
func (e *Encryptor) Seal(dst, msg, ad []byte, tag byte) []byte {
	if uint64(len(msg)) > MessageBytesMax {
		panic("secretstream: message too large")
	}
	ret, out := sliceForAppend(dst, len(msg)+ABytes)
	stream, mac := e.state.begin(ad) // ad is fully absorbed before out is written
	ciphertext := out[1 : 1+len(msg)]
	copy(ciphertext, msg) // memmove: safe even if dst overlaps msg

	var block [blockSize]byte
	block[0] = tag
	stream.XORKeyStream(block[:], block[:])
	mac.Write(block[:])
	out[0] = block[0]
	clear(block[:])

	xorFromBlock2(&e.state.key, &e.state.nonce, ciphertext)
	finish(mac, len(ad), ciphertext)

	var sum [macSize]byte
	mac.Sum(sum[:0])
	copy(out[1+len(msg):], sum[:])
	e.state.advance(&sum, tag)
	return ret
}

// Rekey derives a new key for the following chunks without sending a
// chunk, as libsodium's crypto_secretstream_xchacha20poly1305_rekey does.
// The receiver must call [Decryptor.Rekey] at the same position.
func (e *Encryptor) Rekey() { e.state.rekey() }

// Decryptor is the receiving half of a secretstream. It is not safe for
// concurrent use.
type Decryptor struct {
	state streamState
}

// NewDecryptor prepares to read the stream that key and the sender's header
// describe.
func NewDecryptor(key [KeySize]byte, header [HeaderSize]byte) (*Decryptor, error) {
	d := &Decryptor{}
	d.state.init(key, header)
	return d, nil
}

// Open authenticates and decrypts the next chunk, appends its plaintext to
// dst and returns it with the chunk's tag. dst may alias ciphertext or ad. On
// failure the stream does not advance, so a forged or misplaced chunk can be
// discarded and the right one still opened.
func (d *Decryptor) Open(dst, ciphertext, ad []byte) (msg []byte, tag byte, err error) {
	if len(ciphertext) < ABytes || uint64(len(ciphertext)-ABytes) > MessageBytesMax {
		return nil, 0, fmt.Errorf("open %d-byte chunk: %w", len(ciphertext), ErrTruncated)
	}
	mlen := len(ciphertext) - ABytes
	body := ciphertext[1 : 1+mlen]

	stream, mac := d.state.begin(ad)
	var block [blockSize]byte
	block[0] = ciphertext[0]
	stream.XORKeyStream(block[:], block[:])
	tag = block[0]
	block[0] = ciphertext[0]
	mac.Write(block[:])
	clear(block[:])
	finish(mac, len(ad), body)

	var sum [macSize]byte
	mac.Sum(sum[:0])
	if subtle.ConstantTimeCompare(sum[:], ciphertext[1+mlen:]) != 1 {
		clear(sum[:])
		return nil, 0, ErrForged
	}

	ret, out := sliceForAppend(dst, mlen)
	copy(out, body) // memmove: safe even if dst overlaps ciphertext
	xorFromBlock2(&d.state.key, &d.state.nonce, out)
	d.state.advance(&sum, tag)
	return ret, tag, nil
}

// Rekey mirrors [Encryptor.Rekey].
func (d *Decryptor) Rekey() { d.state.rekey() }

// sliceForAppend extends in by n bytes, reusing its capacity when possible,
// and returns the whole slice and the new tail.
func sliceForAppend(in []byte, n int) (whole, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		whole = in[:total]
	} else {
		whole = make([]byte, total)
		copy(whole, in)
	}
	return whole, whole[len(in):]
}
