package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/internal/buildinfo"
	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// APISession is what the router knows of an API session.
type APISession struct {
	ID         string
	IdentityID string
	// IdentityName is told to hosts as the caller id of connections this client dials;
	// IdentityID is used when it is empty.
	IdentityName string
	// CertFingerprints are the SHA-1 fingerprints (hex) of the certificates the client may
	// present: its enrolled certificate and any API-session certificate.
	CertFingerprints []string
	// ExpiresAt is when the token that named the session stops being valid, for signed
	// (OIDC) access tokens; zero for the controller's opaque tokens. Clients renew it with
	// UpdateToken.
	ExpiresAt time.Time
}

// Session types.
const (
	SessionTypeDial = "Dial"
	SessionTypeBind = "Bind"
)

// Terminator selection strategies of a service.
const (
	// StrategySmartRouting picks the terminator of the best precedence class (required, then
	// default, then failed) and, within it, the lowest cost, recent dial failures counting as
	// extra cost. It is the default.
	StrategySmartRouting = "smartrouting"
	// StrategyWeighted picks at random, weighted by 1/(cost+1), within the best precedence
	// class.
	StrategyWeighted = "weighted"
	// StrategyRandom picks at random within the best precedence class.
	StrategyRandom = "random"
)

// Session is what the router knows of a (dial or bind) session and of its service.
type Session struct {
	ID           string
	APISessionID string
	ServiceID    string
	// Type is SessionTypeDial or SessionTypeBind.
	Type string
	// ServiceEncryptionRequired makes dialers and hosts of the service send a public key.
	ServiceEncryptionRequired bool
	// ServiceMaxIdleTime closes circuits of the service that carried no data for that long
	// (the service's maxIdleTimeMillis; 0: never).
	ServiceMaxIdleTime time.Duration
	// ServiceTerminatorStrategy is a Strategy* name; empty means smartrouting.
	ServiceTerminatorStrategy string
}

// Tokens resolves the tokens clients present. The router keeps them in memory, kept current by
// the controller; lookups must be fast and must not block.
type Tokens interface {
	// APISession returns the API session of an API-session token.
	APISession(token string) (APISession, bool)
	// Session returns the session of a dial or bind session token.
	Session(token string) (Session, bool)
}

// Terminator is a Bind of a service by a hosting client on this router.
type Terminator struct {
	// ID is the router-local id of the terminator.
	ID        string
	ServiceID string
	RouterID  string
	// SessionID and APISessionID are the bind session and the API session of the host.
	SessionID    string
	APISessionID string
	// HostID is the identity id of the hosting client.
	HostID string
	// Identity is the terminator identity (addressable terminators), or empty.
	Identity   string
	Cost       uint16
	Precedence wire.Precedence
	// ListenerID identifies the hosting client's listener.
	ListenerID string
	// PublicKey is the host's key for end-to-end encryption, or nil.
	PublicKey []byte
}

// TerminatorRegistry records terminators with the controller.
type TerminatorRegistry interface {
	// Register records t and returns the id the controller knows it by.
	Register(ctx context.Context, t Terminator) (id string, err error)
	// Unregister removes a terminator returned by Register.
	Unregister(ctx context.Context, id string) error
}

// TokenUpdates is optionally implemented by Tokens whose state the controller keeps current
// by pushes. A client can present a token it was just given before the push that announces it
// reached this router; the router then waits (up to Config.TokenWait) for the pushes to
// catch up before it refuses the token.
type TokenUpdates interface {
	// TokensChanged returns a channel that is closed at the next change of the tokens.
	TokensChanged() <-chan struct{}
}

// TerminatorUpdater is optionally implemented by a TerminatorRegistry that also records cost
// and precedence changes (UpdateBind, health events).
type TerminatorUpdater interface {
	Update(ctx context.Context, id string, cost uint16, precedence wire.Precedence) error
}

// Defaults of Config.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultHelloTimeout     = 10 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultRegistryTimeout  = 30 * time.Second
	DefaultTokenWait        = 3 * time.Second
	DefaultFabricWindow     = 4 << 20
)

// Config configures a Listener.
type Config struct {
	// RouterID is sent to clients in the Hello result and recorded in terminators.
	RouterID string
	// Version is the "version|revision|buildDate|os|arch" of the Hello result; empty takes
	// the build information of the binary.
	Version string
	// TLS holds the server certificate (Certificates or GetCertificate). The Listener uses a
	// copy in which it sets the client authentication itself.
	TLS *tls.Config
	// ClientCAs verify client certificates. Required.
	ClientCAs *x509.CertPool
	// ThirdPartyCAs returns the pool of third-party CAs whose certificates clients may
	// present besides those of ClientCAs (the verified CAs the controller pushes), or nil
	// when there are none. It is called at each handshake. Optional.
	ThirdPartyCAs func() *x509.CertPool
	// Tokens resolves API-session and session tokens. Required.
	Tokens Tokens
	// Terminators records terminators with the controller. Required.
	Terminators TerminatorRegistry
	// Logger receives the router's logs. Nil discards.
	Logger *slog.Logger

	// HandshakeTimeout bounds the TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// HelloTimeout bounds the wait for the client's Hello (default 10 s).
	HelloTimeout time.Duration
	// DialTimeout bounds the wait for a host's answer to a Dial (default 10 s).
	DialTimeout time.Duration
	// RegistryTimeout bounds calls to Terminators (default 30 s).
	RegistryTimeout time.Duration
	// TokenWait is how long an unknown token waits for the controller's pushes when Tokens
	// implements TokenUpdates (default 3 s; negative: never wait).
	TokenWait time.Duration
	// Limits bound the frames read from clients.
	Limits wire.Limits
	// Splice configures circuits; its IdleTimeout and OnClose are set per circuit.
	Splice splice.Config
	// Fabric reaches terminators on other routers over the router mesh. Nil: dials end on
	// this router's terminators only.
	Fabric Fabric
	// FabricWindow is the flow-control window of circuits across routers (it sizes their
	// queues; default 4 MiB, which must match the mesh's).
	FabricWindow int
	// Metrics, when set, receives the listener's metrics (ostium_router_circuits...,
	// dials, terminators, channels).
	Metrics prometheus.Registerer
	// OnCircuit is told when a circuit whose dialer is on this router is established and
	// when it ends. It must not block (the router queues what it sends the controller).
	// Optional.
	OnCircuit func(CircuitEvent)
}

func (c Config) validate() error {
	switch {
	case c.TLS == nil || (len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil):
		return errors.New("edge: config has no server certificate")
	case c.ClientCAs == nil:
		return errors.New("edge: config has no client CA pool")
	case c.Tokens == nil:
		return errors.New("edge: config has no token source")
	case c.Terminators == nil:
		return errors.New("edge: config has no terminator registry")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Version == "" {
		c.Version = wire.FormatVersion(buildinfo.Version, buildinfo.Revision, buildinfo.BuildDate, runtime.GOOS, runtime.GOARCH)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RegistryTimeout <= 0 {
		c.RegistryTimeout = DefaultRegistryTimeout
	}
	if c.TokenWait == 0 {
		c.TokenWait = DefaultTokenWait
	}
	if c.FabricWindow <= 0 {
		c.FabricWindow = DefaultFabricWindow
	}
	if c.Splice.Logger == nil {
		c.Splice.Logger = c.Logger
	}
	return c
}
