package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"

	"github.com/ostium-net/ostium/controller/cluster"
)

// What a client sees of the cluster, whichever controller it talks to:
//
//   - Reads are linearizable by default. Before a request is handled, the
//     controller makes sure it has applied every write the cluster
//     acknowledged before the request arrived (cluster.Node.ReadBarrier), so
//     a client never reads older data than it, or anyone, was told is
//     written. A controller that cannot reach a leader answers 503 with
//     Retry-After instead of old data.
//   - A GET may ask for a stale read with "Ostium-Consistency: stale": it is
//     answered from this controller's copy at once, even without a leader.
//   - Two writes are answered before they are applied: a sign-in with a
//     certificate or an external JWT that needs no MFA step, and a new Dial
//     or Bind session. This controller serves them at once and makes
//     management requests and the API session's own later requests wait for
//     them (pendinglogin.go, pendingsession.go); other controllers and the
//     routers see them once they are committed, a few milliseconds later.
//   - Writes are applied once. A write may carry an Idempotency-Key (any
//     printable ASCII, up to 255 characters); sending the same request again
//     with the same key, to any controller within 24 hours, answers with the
//     first request's outcome instead of applying it again. The key belongs
//     to the caller's session or certificate; it is ignored on requests that
//     carry neither, and reusing it for a different request is refused (422).
const (
	headerConsistency    = "Ostium-Consistency"
	headerIdempotencyKey = "Idempotency-Key"
	maxIdempotencyKeyLen = 255
	// maxIdempotentBody bounds the body read to fingerprint a request.
	maxIdempotentBody = 4 << 20
)

func (s *Server) withConsistency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Node == nil || answeredWithoutState(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		read := r.Method == http.MethodGet || r.Method == http.MethodHead
		stale := false
		switch v := r.Header.Get(headerConsistency); v {
		case "", "linearizable":
		case "stale":
			stale = read
		default:
			writeError(w, r, validationError(headerConsistency, "must be 'linearizable' (the default) or 'stale'", v))
			return
		}
		if key := r.Header.Get(headerIdempotencyKey); key != "" && !read {
			if len(key) > maxIdempotencyKeyLen || !printableASCII(key) {
				writeError(w, r, validationError(headerIdempotencyKey, "must be 1 to 255 printable ASCII characters", nil))
				return
			}
			if scope := callerScope(r); scope != "" {
				fp, ok := fingerprint(r)
				if !ok {
					writeError(w, r, &APIError{Status: http.StatusRequestEntityTooLarge, Code: CodeCouldNotValidate,
						Message: "the body of a request with an Idempotency-Key may be at most 4 MiB"})
					return
				}
				r = r.WithContext(cluster.WithIdempotencyKey(r.Context(), scope, key, fp))
			}
		}
		if !stale {
			if err := s.Node.ReadBarrier(r.Context()); err != nil {
				writeError(w, r, err)
				return
			}
			s.awaitPending(r)
		}
		next.ServeHTTP(w, r)
	})
}

// answeredWithoutState reports paths whose answers do not come from the
// replicated state (the version, the CA bundle, the cluster's members as this
// controller sees them): they are answered even by a controller cut off from
// its cluster, so clients and operators can find the others.
func answeredWithoutState(path string) bool {
	return strings.HasSuffix(path, "/version") || strings.Contains(path, "/.well-known/") ||
		strings.HasPrefix(path, "/console") || strings.HasSuffix(path, "/controllers") ||
		strings.HasSuffix(path, "/cluster/members")
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// callerScope names who is asking, so that two callers never share an
// Idempotency-Key: a hash of the session token, the bearer token or the
// client certificate. Empty for an anonymous request.
func callerScope(r *http.Request) string {
	sum := func(prefix string, b []byte) string {
		h := sha256.Sum256(b)
		return prefix + hex.EncodeToString(h[:])
	}
	if t := r.Header.Get("zt-session"); t != "" {
		return sum("session:", []byte(t))
	}
	if a := r.Header.Get("Authorization"); a != "" {
		return sum("authorization:", []byte(a))
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return sum("certificate:", r.TLS.PeerCertificates[0].Raw)
	}
	return ""
}

// fingerprint names the request an Idempotency-Key stands for: method, path,
// query and a hash of the body, which is read and put back.
func fingerprint(r *http.Request) (string, bool) {
	h := sha256.New()
	if r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxIdempotentBody+1))
		if err != nil || len(body) > maxIdempotentBody {
			return "", false
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.Write(body)
	}
	return r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + " " + hex.EncodeToString(h.Sum(nil)), true
}
