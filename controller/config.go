// Package controller assembles the controller process: configuration, first
// initialisation (PKI, database, default admin) and Run, which starts the
// store, the raft node and the HTTPS listener serving both edge APIs.
package controller

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ostium-net/ostium/controller/events"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/internal/ops"
)

// Config is the controller's configuration file (YAML).
type Config struct {
	// DataDir holds the database, raft state and, by default, the PKI.
	DataDir string        `yaml:"dataDir"`
	API     APIConfig     `yaml:"api"`
	PKI     PKIConfig     `yaml:"pki"`
	Cluster ClusterConfig `yaml:"cluster"`
	Routers RoutersConfig `yaml:"routers"`
	Log     LogConfig     `yaml:"log"`
	// Ops is the plain HTTP listener of /metrics, /health and, when
	// enabled, /debug/pprof/ (off while ops.listen is empty).
	Ops    ops.Config   `yaml:"ops"`
	Events EventsConfig `yaml:"events"`
	Audit  AuditConfig  `yaml:"audit"`
}

// EventsConfig says where events go besides the management API's stream
// (GET /events).
type EventsConfig struct {
	// File, when set, writes events to a JSON-lines file.
	File *EventsFileConfig `yaml:"file"`
}

// EventsFileConfig is the JSON-lines file sink of events.
type EventsFileConfig struct {
	// Path is the file (relative to the configuration file's directory);
	// rotated files are Path.1 (the newest) to Path.<maxFiles>.
	Path string `yaml:"path"`
	// MaxSizeMB is the size in MiB past which the file is rotated (default 100).
	MaxSizeMB int `yaml:"maxSizeMB"`
	// MaxFiles is how many rotated files are kept (default 5).
	MaxFiles int `yaml:"maxFiles"`
	// Types selects the events written, as the stream's types parameter
	// does ("circuit,entity"); every event when empty.
	Types string `yaml:"types"`
}

// AuditConfig governs the audit trail of management writes.
type AuditConfig struct {
	// Retention is how long audit records are kept (default 2160h, 90 days).
	Retention Duration `yaml:"retention"`
}

// RoutersConfig is the control channel edge routers connect to.
type RoutersConfig struct {
	// Listen is the address routers dial (default 127.0.0.1:6262).
	Listen string `yaml:"listen"`
	// Advertise is how routers reach Listen; defaults to Listen.
	Advertise string `yaml:"advertise"`
}

// APIConfig is the HTTPS listener of the client and management APIs.
type APIConfig struct {
	// Listen is the address to bind (default 127.0.0.1:1280).
	Listen string `yaml:"listen"`
	// Advertise is host:port as clients reach it: enrollment JWTs name it
	// as their issuer and /version lists it. Defaults to Listen.
	Advertise string `yaml:"advertise"`
	// SessionIdleTimeout ends API sessions unused for this long (default 30m).
	SessionIdleTimeout Duration `yaml:"sessionIdleTimeout"`
	// SessionMaxLifetime ends API sessions this long after they began,
	// however busy (at least sessionIdleTimeout; left out, 24h, or
	// sessionIdleTimeout when that is longer).
	SessionMaxLifetime Duration `yaml:"sessionMaxLifetime"`
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout bound how long a
	// connection may take to send a request's headers (default 10s) and the
	// whole request (default 30s), and how long a kept-alive connection may
	// wait for its next request (default 2m).
	ReadHeaderTimeout Duration `yaml:"readHeaderTimeout"`
	ReadTimeout       Duration `yaml:"readTimeout"`
	IdleTimeout       Duration `yaml:"idleTimeout"`
	// MaxRequestBytes bounds a request body (default 1 MiB); a larger one is
	// answered 413.
	MaxRequestBytes int64 `yaml:"maxRequestBytes"`
	// AuthEventRetention is how long authentication events are kept
	// (default 720h, 30 days; at least 1h).
	AuthEventRetention Duration `yaml:"authEventRetention"`
	// OIDC is the OpenID Connect sign-in of OpenZiti's newer SDKs.
	OIDC OIDCConfig `yaml:"oidc"`
}

// OIDCConfig configures OpenID Connect sign-in (the edge-oidc API under
// /oidc, advertised as the OIDC_AUTH capability).
type OIDCConfig struct {
	// Disabled turns it off; clients then sign in with POST /authenticate.
	Disabled bool `yaml:"disabled"`
	// AccessTokenLifetime (default 30m, at most 24h) and
	// RefreshTokenLifetime (default 24h) bound the tokens it issues.
	AccessTokenLifetime  Duration `yaml:"accessTokenLifetime"`
	RefreshTokenLifetime Duration `yaml:"refreshTokenLifetime"`
	// RedirectURIs are allowed besides native clients' loopback callbacks
	// (http://localhost, 127.0.0.1 or [::1], any port, /auth/callback).
	RedirectURIs []string `yaml:"redirectURIs"`
}

// PKIConfig locates the certificate authority. Leave the file fields empty to
// use the one `init` creates in Dir.
type PKIConfig struct {
	Dir                    string   `yaml:"dir"`
	KeyAlgorithm           string   `yaml:"keyAlgorithm"`
	RootCert               string   `yaml:"rootCert"`
	SigningCert            string   `yaml:"signingCert"`
	SigningKey             string   `yaml:"signingKey"`
	ServerCert             string   `yaml:"serverCert"`
	ServerKey              string   `yaml:"serverKey"`
	ExtraTrustedCAs        []string `yaml:"extraTrustedCAs"`
	DNSNames               []string `yaml:"dnsNames"`
	IPAddresses            []string `yaml:"ipAddresses"`
	IdentityLifetime       Duration `yaml:"identityCertLifetime"`
	RouterLifetime         Duration `yaml:"routerCertLifetime"`
	APISessionCertLifetime Duration `yaml:"apiSessionCertLifetime"`
}

// ClusterConfig places this node in a raft cluster.
type ClusterConfig struct {
	// NodeID names this node; generated and kept in DataDir when empty.
	NodeID string `yaml:"nodeId"`
	// Listen is the cluster port (default 127.0.0.1:6363).
	Listen string `yaml:"listen"`
	// Advertise is how other nodes reach Listen.
	Advertise string `yaml:"advertise"`
	// Join is the cluster address of an existing member; empty bootstraps
	// a new single-node cluster on first start. A node that is a member
	// already (it has raft state) ignores it and rejoins on its own.
	Join string `yaml:"join"`
	// HeartbeatTimeout and ElectionTimeout tune failure detection (default
	// 500ms each: a leader's death is noticed within one to two heartbeat
	// timeouts and a new one elected about a second later). Raise both on
	// slow or distant links.
	HeartbeatTimeout Duration `yaml:"heartbeatTimeout"`
	ElectionTimeout  Duration `yaml:"electionTimeout"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"` // text or json
}

// Duration is a time.Duration written as "30m", "12h".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// DefaultConfig is what a controller runs with when a field is not set.
func DefaultConfig() Config {
	return Config{
		DataDir: "ostium-data",
		API: APIConfig{Listen: "127.0.0.1:1280", SessionIdleTimeout: Duration(30 * time.Minute),
			ReadHeaderTimeout: Duration(DefaultReadHeaderTimeout), ReadTimeout: Duration(DefaultReadTimeout), IdleTimeout: Duration(DefaultIdleTimeout),
			MaxRequestBytes: 1 << 20, AuthEventRetention: Duration(30 * 24 * time.Hour)},
		PKI: PKIConfig{KeyAlgorithm: string(pki.KeyECDSAP256),
			IdentityLifetime: Duration(365 * 24 * time.Hour), RouterLifetime: Duration(365 * 24 * time.Hour),
			APISessionCertLifetime: Duration(12 * time.Hour)},
		Cluster: ClusterConfig{Listen: "127.0.0.1:6363"},
		Routers: RoutersConfig{Listen: "127.0.0.1:6262"},
		Log:     LogConfig{Level: "info", Format: "text"},
	}
}

// MaxConfigSize bounds a configuration file.
const MaxConfigSize = 1 << 20

// ParseConfig reads YAML over the defaults. Unknown fields are errors, so a
// typo is reported instead of silently ignored.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	if len(data) > MaxConfigSize {
		return cfg, fmt.Errorf("config is %d bytes, more than %d", len(data), MaxConfigSize)
	}
	if strings.TrimSpace(string(data)) != "" {
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("parse config: %w", err)
		}
	}
	return cfg, cfg.Validate()
}

// LoadConfig reads a configuration file; relative paths in it are taken
// relative to the file's directory.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	cfg.resolve(filepath.Dir(path))
	return cfg, nil
}

func (c *Config) resolve(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.DataDir)
	if c.Events.File != nil {
		abs(&c.Events.File.Path)
	}
	for _, p := range []*string{&c.PKI.Dir, &c.PKI.RootCert, &c.PKI.SigningCert, &c.PKI.SigningKey, &c.PKI.ServerCert, &c.PKI.ServerKey} {
		abs(p)
	}
	for i := range c.PKI.ExtraTrustedCAs {
		abs(&c.PKI.ExtraTrustedCAs[i])
	}
}

// Validate checks the configuration for mistakes an operator can fix.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("dataDir is required"))
	}
	for name, addr := range map[string]string{"api.listen": c.API.Listen, "cluster.listen": c.Cluster.Listen, "routers.listen": c.Routers.Listen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	if c.API.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.API.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("api.advertise %q: %w", c.API.Advertise, err))
		}
	}
	if _, err := pki.ParseKeyAlgorithm(c.PKI.KeyAlgorithm); err != nil {
		errs = append(errs, fmt.Errorf("pki.keyAlgorithm: %w", err))
	}
	for _, ip := range c.PKI.IPAddresses {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("pki.ipAddresses: %q is not an IP address", ip))
		}
	}
	if c.API.SessionIdleTimeout != 0 && time.Duration(c.API.SessionIdleTimeout) < time.Minute {
		errs = append(errs, errors.New("api.sessionIdleTimeout must be at least 1m"))
	}
	if ml := time.Duration(c.API.SessionMaxLifetime); ml != 0 && (ml < max(time.Duration(c.API.SessionIdleTimeout), time.Minute) || ml > 366*24*time.Hour) {
		errs = append(errs, errors.New("api.sessionMaxLifetime must be at least sessionIdleTimeout and at most 8784h"))
	}
	if rh := time.Duration(c.API.ReadHeaderTimeout); rh != 0 && (rh < time.Second || rh > 5*time.Minute) {
		errs = append(errs, errors.New("api.readHeaderTimeout must be between 1s and 5m"))
	}
	if rt := time.Duration(c.API.ReadTimeout); rt != 0 && (rt < time.Second || rt > time.Hour || rt < time.Duration(c.API.ReadHeaderTimeout)) {
		errs = append(errs, errors.New("api.readTimeout must be between 1s and 1h, and not shorter than readHeaderTimeout"))
	}
	if it := time.Duration(c.API.IdleTimeout); it != 0 && (it < time.Second || it > time.Hour) {
		errs = append(errs, errors.New("api.idleTimeout must be between 1s and 1h"))
	}
	if mb := c.API.MaxRequestBytes; mb != 0 && (mb < 64<<10 || mb > 64<<20) {
		errs = append(errs, errors.New("api.maxRequestBytes must be between 65536 (64 KiB) and 67108864 (64 MiB)"))
	}
	if r := time.Duration(c.API.AuthEventRetention); r != 0 && r < time.Hour {
		errs = append(errs, errors.New("api.authEventRetention must be at least 1h"))
	}
	if at := time.Duration(c.API.OIDC.AccessTokenLifetime); at != 0 && (at < time.Minute || at > 24*time.Hour) {
		errs = append(errs, errors.New("api.oidc.accessTokenLifetime must be between 1m and 24h"))
	}
	if rt := time.Duration(c.API.OIDC.RefreshTokenLifetime); rt != 0 && rt < time.Duration(c.API.OIDC.AccessTokenLifetime)+time.Minute {
		errs = append(errs, errors.New("api.oidc.refreshTokenLifetime must be at least a minute longer than accessTokenLifetime"))
	}
	for _, u := range c.API.OIDC.RedirectURIs {
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" || parsed.Fragment != "" {
			errs = append(errs, fmt.Errorf("api.oidc.redirectURIs: %q is not an absolute http(s) URI without fragment", u))
		}
	}
	if err := c.Ops.Validate(); err != nil {
		errs = append(errs, err)
	}
	if f := c.Events.File; f != nil {
		if f.Path == "" {
			errs = append(errs, errors.New("events.file.path is required when events.file is set"))
		}
		if f.MaxSizeMB < 0 || f.MaxSizeMB > 1<<20 {
			errs = append(errs, errors.New("events.file.maxSizeMB must be between 1 and 1048576 (0: the default)"))
		}
		if f.MaxFiles < 0 || f.MaxFiles > 1000 {
			errs = append(errs, errors.New("events.file.maxFiles must be between 1 and 1000 (0: the default)"))
		}
		if _, err := events.ParseTypes(f.Types); err != nil {
			errs = append(errs, fmt.Errorf("events.file.types: %w", err))
		}
	}
	if r := time.Duration(c.Audit.Retention); r != 0 && r < time.Hour {
		errs = append(errs, errors.New("audit.retention must be at least 1h"))
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: use debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: use text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}

// PKIDir is where the PKI files live.
func (c *Config) PKIDir() string {
	if c.PKI.Dir != "" {
		return c.PKI.Dir
	}
	return filepath.Join(c.DataDir, "pki")
}

// DefaultSessionMaxLifetime is the absolute lifetime of API sessions when
// api.sessionMaxLifetime is left out.
const DefaultSessionMaxLifetime = 24 * time.Hour

// SessionMaxLifetime is the absolute lifetime of API sessions: the
// configured one, else DefaultSessionMaxLifetime or the idle timeout when
// that is longer.
func (c *Config) SessionMaxLifetime() time.Duration {
	if ml := time.Duration(c.API.SessionMaxLifetime); ml > 0 {
		return ml
	}
	return max(DefaultSessionMaxLifetime, time.Duration(c.API.SessionIdleTimeout))
}

// AdvertiseAddr is the API's host:port as clients reach it.
func (c *Config) AdvertiseAddr() string {
	if c.API.Advertise != "" {
		return c.API.Advertise
	}
	return c.API.Listen
}

// PKIConfigFiles is the pki.Config for this configuration.
func (c *Config) PKIConfigFiles() pki.Config {
	files := pki.FilesIn(c.PKIDir()).Config()
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&files.RootCert, c.PKI.RootCert)
	set(&files.SigningCert, c.PKI.SigningCert)
	set(&files.SigningKey, c.PKI.SigningKey)
	set(&files.ServerCert, c.PKI.ServerCert)
	set(&files.ServerKey, c.PKI.ServerKey)
	files.ExtraTrustedCAs = c.PKI.ExtraTrustedCAs
	files.IdentityLifetime = time.Duration(c.PKI.IdentityLifetime)
	files.RouterLifetime = time.Duration(c.PKI.RouterLifetime)
	files.APISessionCertLifetime = time.Duration(c.PKI.APISessionCertLifetime)
	return files
}
