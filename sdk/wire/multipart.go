package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A multipart body (a Data message with [FlagMultipartMsg]) is a series of parts, each preceded
// by its length as 2 little-endian bytes.

// MaxPartLen is the largest part a multipart body can hold.
const MaxPartLen = math.MaxUint16

// MaxMultipartParts bounds the number of parts [DecodeMultipart] returns, which bounds the slice
// it allocates. [ForEachPart] has no such bound: it allocates nothing.
const MaxMultipartParts = 1 << 16

// Multipart errors.
var (
	// ErrPartTooLarge: a part longer than [MaxPartLen] cannot be encoded.
	ErrPartTooLarge = errors.New("wire: multipart part too large")
	// ErrMalformedMultipart: a length prefix is truncated or announces more bytes than remain.
	ErrMalformedMultipart = errors.New("wire: malformed multipart body")
	// ErrTooManyParts: the body holds more than [MaxMultipartParts] parts.
	ErrTooManyParts = errors.New("wire: too many multipart parts")
)

// AppendMultipart appends the multipart encoding of parts to dst.
func AppendMultipart(dst []byte, parts ...[]byte) ([]byte, error) {
	need := 0
	for i, p := range parts {
		if len(p) > MaxPartLen {
			return dst, fmt.Errorf("%w: part %d has %d bytes, at most %d fit", ErrPartTooLarge, i, len(p), MaxPartLen)
		}
		need += 2 + len(p)
	}
	if cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	for _, p := range parts {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p)))
		dst = append(dst, p...)
	}
	return dst, nil
}

// EncodeMultipart returns the multipart encoding of parts.
func EncodeMultipart(parts ...[]byte) ([]byte, error) {
	return AppendMultipart(nil, parts...)
}

// ForEachPart calls fn with each part of a multipart body, in order, stopping at the first error
// of fn (returned as is). Parts are sub-slices of body. The body is validated as it goes: fn may
// already have seen some parts when a malformed tail is found.
func ForEachPart(body []byte, fn func(part []byte) error) error {
	for i := 0; i < len(body); {
		if len(body)-i < 2 {
			return fmt.Errorf("%w: 1 trailing byte at offset %d, a length needs 2", ErrMalformedMultipart, i)
		}
		n := int(binary.LittleEndian.Uint16(body[i:]))
		if n > len(body)-i-2 {
			return fmt.Errorf("%w: part at offset %d announces %d bytes, %d remain", ErrMalformedMultipart, i, n, len(body)-i-2)
		}
		if err := fn(body[i+2 : i+2+n : i+2+n]); err != nil {
			return err
		}
		i += 2 + n
	}
	return nil
}

// DecodeMultipart splits a multipart body into its parts (sub-slices of body). The whole body is
// validated before anything is allocated. An empty body has no parts.
func DecodeMultipart(body []byte) ([][]byte, error) {
	count := 0
	if err := ForEachPart(body, func([]byte) error {
		count++
		if count > MaxMultipartParts {
			return fmt.Errorf("%w: more than %d", ErrTooManyParts, MaxMultipartParts)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, nil
	}
	parts := make([][]byte, 0, count)
	_ = ForEachPart(body, func(p []byte) error {
		parts = append(parts, p)
		return nil
	})
	return parts, nil
}
