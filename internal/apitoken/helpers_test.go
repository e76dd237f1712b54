package apitoken

import (
	"encoding/base64"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

func b64(b []byte) string    { return base64.StdEncoding.EncodeToString(b) }
func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func signWith(key jwk.Key, alg jwa.SignatureAlgorithm, payload []byte) (string, error) {
	out, err := jws.Sign(payload, jws.WithKey(alg, key))
	return string(out), err
}
