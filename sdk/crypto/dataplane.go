package crypto

import (
	"errors"
	"fmt"
)

// Sender produces the Data payloads one side of an encrypted connection
// sends: [Sender.Header] first, then one [Sender.Seal] per later payload. It
// is not safe for concurrent use.
type Sender struct {
	enc    *Encryptor
	header [HeaderSize]byte
}

// NewSender starts the outgoing stream under the side's tx session key.
func NewSender(txKey [SessionKeySize]byte) (*Sender, error) {
	enc, header, err := NewEncryptor(txKey)
	if err != nil {
		return nil, fmt.Errorf("start outgoing stream: %w", err)
	}
	return &Sender{enc: enc, header: header}, nil
}

// Header returns the stream header, the payload of the first Data message.
func (s *Sender) Header() []byte {
	h := s.header
	return h[:]
}

// Seal encrypts plaintext into the payload of the next Data message: one
// chunk with tag [TagMessage], len(plaintext)+[ABytes] bytes long.
func (s *Sender) Seal(plaintext []byte) []byte {
	return s.enc.Seal(nil, plaintext, nil, TagMessage)
}

// SealTo is Seal appending the payload to dst (whose capacity it reuses).
// dst must not overlap plaintext.
func (s *Sender) SealTo(dst, plaintext []byte) []byte {
	return s.enc.Seal(dst, plaintext, nil, TagMessage)
}

// ErrNoHeader is returned by [Receiver.Open] when the first payload is not a
// stream header.
var ErrNoHeader = errors.New("first encrypted payload is not a stream header")

// Receiver consumes the Data payloads the peer sends: the first must be its
// stream header, every later one an encrypted chunk. It is not safe for
// concurrent use.
type Receiver struct {
	key [SessionKeySize]byte
	dec *Decryptor
}

// NewReceiver prepares the incoming stream under the side's rx session key.
func NewReceiver(rxKey [SessionKeySize]byte) *Receiver {
	return &Receiver{key: rxKey}
}

// HeaderReceived reports whether the peer's stream header has been consumed.
func (r *Receiver) HeaderReceived() bool { return r.dec != nil }

// Open consumes the payload of the next Data message. For the first one,
// the header, it returns no plaintext. For later ones it decrypts the chunk
// in place and returns the plaintext, which aliases payload. Chunk tags other than [TagMessage] are accepted, as
// OpenZiti SDKs accept them. A payload that fails to open leaves the stream
// where it was.
func (r *Receiver) Open(payload []byte) ([]byte, error) {
	if r.dec == nil {
		if len(payload) != HeaderSize {
			return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrNoHeader, len(payload), HeaderSize)
		}
		dec, err := NewDecryptor(r.key, [HeaderSize]byte(payload))
		if err != nil {
			return nil, fmt.Errorf("start incoming stream: %w", err)
		}
		r.dec = dec
		clear(r.key[:])
		return nil, nil
	}
	plaintext, _, err := r.dec.Open(payload[:0], payload, nil)
	if err != nil {
		return nil, fmt.Errorf("open encrypted payload: %w", err)
	}
	return plaintext, nil
}
