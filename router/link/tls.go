package link

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ostium-net/ostium/internal/buildinfo"
)

// alpn names the link protocol in the TLS handshake, so that a link listener is never
// mistaken for an edge listener or the other way round.
const alpn = "ostium-link/1"

func (m *Manager) certificate() (*tls.Certificate, error) { return m.cfg.Certificate() }

// serverTLS is the TLS configuration of the link listener: the peer must present the
// current certificate of a router of this network.
func (m *Manager) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		NextProtos:       []string{alpn},
		ClientAuth:       tls.RequireAnyClientCert,
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return m.certificate() },
		VerifyConnection: func(cs tls.ConnectionState) error { return m.verifyPeer(cs, "") },
	}
}

// clientTLS is the TLS configuration of a link dialed to peer. The peer's certificate is
// verified by verifyPeer (chain, router table, and that it is peer), not by host name: a
// router's certificate names the router, not the address of its link listener.
func (m *Manager) clientTLS(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		NextProtos:           []string{alpn},
		InsecureSkipVerify:   true, // verified in VerifyConnection
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return m.certificate() },
		VerifyConnection:     func(cs tls.ConnectionState) error { return m.verifyPeer(cs, peer) },
	}
}

// verifyPeer accepts the certificate of a link's peer when it chains to the network's CA,
// is the current certificate of an enrolled, enabled router (so not an identity's, not a
// deleted or re-enrolled router's), and, when want is set, is that router's.
func (m *Manager) verifyPeer(cs tls.ConnectionState, want string) error {
	if cs.NegotiatedProtocol != alpn {
		return fmt.Errorf("link: peer does not speak %s", alpn)
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("link: peer presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.cfg.CAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("link: peer certificate: %w", err)
	}
	id := leaf.Subject.CommonName
	if want != "" && id != want {
		return fmt.Errorf("link: peer certificate is router %q's, expected %q", id, want)
	}
	if id == m.cfg.RouterID {
		return errors.New("link: peer presented this router's own certificate")
	}
	r, ok := m.routerTable()[id]
	if !ok {
		return fmt.Errorf("link: %q is not a router of this network", id)
	}
	if !r.usable() {
		return fmt.Errorf("link: router %q is disabled or not enrolled", id)
	}
	sum := sha1.Sum(leaf.Raw)
	if normalizeFingerprint(r.Fingerprint) != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("link: the certificate is not router %q's current one", id)
	}
	return nil
}

func normalizeFingerprint(fp string) string { return strings.ToLower(strings.ReplaceAll(fp, ":", "")) }

// hello is the first frame each side sends.
type hello struct {
	RouterID string `json:"routerId"`
	LinkID   string `json:"linkId"`
	Version  string `json:"version,omitempty"`
}

// maxHello bounds a hello's body.
const maxHello = 4 << 10

func writeHello(w io.Writer, h hello) error {
	h.Version = buildinfo.Version
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	buf := appendFrameHead(nil, frameHello, 0, 0, nil, len(body))
	if _, err := w.Write(append(buf, body...)); err != nil {
		return fmt.Errorf("link: send hello: %w", err)
	}
	return nil
}

func readHello(fr *frameReader) (hello, error) {
	f, err := fr.read()
	if err != nil {
		return hello{}, fmt.Errorf("link: read hello: %w", err)
	}
	defer f.release()
	if f.typ != frameHello {
		return hello{}, fmt.Errorf("link: expected hello, got %s", frameTypeName(f.typ))
	}
	if len(f.body()) > maxHello {
		return hello{}, fmt.Errorf("link: hello of %d bytes", len(f.body()))
	}
	var h hello
	if err := json.Unmarshal(f.body(), &h); err != nil {
		return hello{}, fmt.Errorf("link: bad hello: %w", err)
	}
	if h.RouterID == "" || h.LinkID == "" || len(h.LinkID) > 64 {
		return hello{}, errors.New("link: hello without router or link id")
	}
	return h, nil
}
