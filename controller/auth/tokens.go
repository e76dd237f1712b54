package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// Deriver computes the bearer token of a record from its id and a secret
// that every controller of the network holds (see pki.Authority.DeriveSecret).
// Records keep only TokenHash(token); a controller that needs to hand a token
// out again (an idempotent session create, an enrollment JWT shown to an
// admin) derives it anew instead of storing it.
type Deriver struct {
	secret []byte
}

// NewDeriver makes a Deriver from a secret of at least 32 bytes.
func NewDeriver(secret []byte) (*Deriver, error) {
	if len(secret) < 32 {
		return nil, errors.New("token secret must be at least 32 bytes")
	}
	return &Deriver{secret: append([]byte(nil), secret...)}, nil
}

// Token returns the token of the record of the given kind and id, in UUID
// form. The kind keeps tokens of different kinds of records apart.
func (d *Deriver) Token(kind, id string) string {
	mac := hmac.New(sha256.New, d.secret)
	mac.Write([]byte(kind))
	mac.Write([]byte{0})
	mac.Write([]byte(id))
	b := mac.Sum(nil)[:16]
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
