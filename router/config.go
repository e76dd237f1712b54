package router

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ostium-net/ostium/internal/ops"
)

// Config is the router's configuration file.
type Config struct {
	Identity   IdentityConfig   `yaml:"identity"`
	Controller ControllerConfig `yaml:"controller"`
	Edge       EdgeConfig       `yaml:"edge"`
	Link       LinkConfig       `yaml:"link"`
	Log        LogConfig        `yaml:"log"`
	// Ops is the plain HTTP listener of /metrics, /health and, when enabled,
	// /debug/pprof/ (off while ops.listen is empty).
	Ops ops.Config `yaml:"ops"`
	// DataDir is where the router keeps what it needs across restarts: the state the
	// controller pushed (StateFileName), so that a router restarted while the controller is
	// away still serves its clients. It defaults to the directory of identity.cert, which the
	// router writes anyway (renewed certificates).
	DataDir string `yaml:"dataDir"`
	// StateMaxAge is how long after the router last heard from the controller the state it
	// saved is still used at a start (default 24 h).
	StateMaxAge time.Duration `yaml:"stateMaxAge"`
	// DrainTimeout is how long a router that is told to stop (SIGTERM) lets open circuits
	// finish before it closes them (default 10 s); meanwhile it accepts nothing new and its
	// hosts bind elsewhere.
	DrainTimeout time.Duration `yaml:"drainTimeout"`
}

// StateFileName is the file in DataDir that holds the state the controller pushed.
const StateFileName = "router-state.json"

// Defaults of the restart and stop settings.
const (
	DefaultStateMaxAge  = 24 * time.Hour
	DefaultDrainTimeout = 10 * time.Second
)

// StatePath is the file the router saves the controller's state to.
func (c Config) StatePath() string {
	dir := c.DataDir
	if dir == "" {
		dir = filepath.Dir(c.Identity.Cert)
	}
	return filepath.Join(dir, StateFileName)
}

// LinkConfig configures the router's links to other routers (the mesh). A router without a
// listen address only dials: it links to every router that listens.
type LinkConfig struct {
	// Listen is the address the link listener binds, host:port (optional).
	Listen string `yaml:"listen"`
	// Advertise is host:port as other routers dial the listener; it defaults to Listen.
	Advertise string `yaml:"advertise"`
	// Cost is a static cost added to every link to this router (paths prefer cheap links).
	Cost uint16 `yaml:"cost"`
	// Window is the flow-control window, in bytes, of each direction of the circuits across
	// routers that this router ends (0: 4 MiB). A circuit moves at most a window per round
	// trip between its ends, and each end and middle router holds at most a window of it.
	Window uint32 `yaml:"window"`
}

// Bounds of LinkConfig.Window.
const (
	minLinkWindow = 64 << 10
	maxLinkWindow = 64 << 20
)

// IdentityConfig names the files of the router's enrolled identity. `enroll` writes them;
// `run` reads them.
type IdentityConfig struct {
	// Cert and Key are the client certificate (chain) and key the router presents to the
	// controller.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerCert and ServerKey are the certificate (chain) and key of the edge listener.
	ServerCert string `yaml:"serverCert"`
	ServerKey  string `yaml:"serverKey"`
	// CA is the network's CA bundle: it verifies the controller and edge clients.
	CA string `yaml:"ca"`
}

// ControllerConfig says where the controller is.
type ControllerConfig struct {
	// Endpoint is the control channel address, "tls:host:port" or "host:port".
	Endpoint string `yaml:"endpoint"`
	// Endpoints are more controllers of the same cluster, tried in turn when the one in use
	// cannot be reached. Optional: once connected, the router learns every member's endpoint
	// from the controller itself.
	Endpoints []string `yaml:"endpoints"`
	// APIURL is the controller's edge API, https://host:port.
	APIURL string `yaml:"apiURL"`
}

// EdgeConfig configures the edge listener.
type EdgeConfig struct {
	// Listen is the address the edge listener binds, host:port.
	Listen string `yaml:"listen"`
	// Advertise is host:port as clients reach the listener; it defaults to Listen and names
	// the server certificate's SAN at enrollment.
	Advertise string `yaml:"advertise"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Defaults of Config.
const (
	DefaultControllerEndpoint = "tls:127.0.0.1:6262"
	DefaultControllerAPIURL   = "https://127.0.0.1:1280"
	DefaultEdgeListen         = "127.0.0.1:3022"
)

// MaxConfigSize bounds a configuration file.
const MaxConfigSize = 1 << 20

// DefaultConfig is what a router runs with when a field is not set. The identity files have no
// default.
func DefaultConfig() Config {
	return Config{
		Controller: ControllerConfig{Endpoint: DefaultControllerEndpoint, APIURL: DefaultControllerAPIURL},
		Edge:       EdgeConfig{Listen: DefaultEdgeListen},
		Log:        LogConfig{Level: "info", Format: "text"},
	}
}

// ParseConfig reads YAML over the defaults and validates the result. Unknown fields are
// errors, so that a typo is reported rather than ignored.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	if len(data) > MaxConfigSize {
		return cfg, fmt.Errorf("config is %d bytes, more than %d", len(data), MaxConfigSize)
	}
	if strings.TrimSpace(string(data)) != "" {
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("parse config: %w", err)
		}
	}
	if cfg.Edge.Advertise == "" {
		cfg.Edge.Advertise = cfg.Edge.Listen
	}
	if cfg.Link.Advertise == "" {
		cfg.Link.Advertise = cfg.Link.Listen
	}
	return cfg, cfg.Validate()
}

// LoadConfig reads a configuration file. Relative identity paths are taken relative to the
// file's directory.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	base := filepath.Dir(path)
	if cfg.DataDir != "" && !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(base, cfg.DataDir)
	}
	for _, p := range []*string{&cfg.Identity.Cert, &cfg.Identity.Key, &cfg.Identity.ServerCert, &cfg.Identity.ServerKey, &cfg.Identity.CA} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return cfg, nil
}

// Validate reports the first problem of the configuration.
func (c Config) Validate() error {
	id := c.Identity
	files := []struct{ field, path string }{
		{"identity.cert", id.Cert}, {"identity.key", id.Key},
		{"identity.serverCert", id.ServerCert}, {"identity.serverKey", id.ServerKey},
		{"identity.ca", id.CA},
	}
	seen := map[string]string{}
	for _, f := range files {
		if strings.TrimSpace(f.path) == "" {
			return fmt.Errorf("%s: a file path is required", f.field)
		}
		clean := filepath.Clean(f.path)
		if other, dup := seen[clean]; dup {
			return fmt.Errorf("%s: %q is also %s; each identity file needs its own path", f.field, f.path, other)
		}
		seen[clean] = f.field
	}
	if _, err := ControlAddress(c.Controller.Endpoint); err != nil {
		return fmt.Errorf("controller.endpoint: %w", err)
	}
	for i, e := range c.Controller.Endpoints {
		if _, err := ControlAddress(e); err != nil {
			return fmt.Errorf("controller.endpoints[%d]: %w", i, err)
		}
	}
	if err := checkAPIURL(c.Controller.APIURL); err != nil {
		return fmt.Errorf("controller.apiURL: %w", err)
	}
	if _, _, err := splitHostPort(c.Edge.Listen, true); err != nil {
		return fmt.Errorf("edge.listen: %w", err)
	}
	host, _, err := splitHostPort(c.Edge.Advertise, false)
	if err != nil {
		return fmt.Errorf("edge.advertise: %w", err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("edge.advertise: %q is not an address clients can reach; set edge.advertise when edge.listen binds every interface", c.Edge.Advertise)
	}
	if err := c.Link.validate(); err != nil {
		return err
	}
	if err := c.Ops.Validate(); err != nil {
		return err
	}
	if c.StateMaxAge < 0 {
		return fmt.Errorf("stateMaxAge: %s is negative", c.StateMaxAge)
	}
	if c.DrainTimeout < 0 {
		return fmt.Errorf("drainTimeout: %s is negative", c.DrainTimeout)
	}
	if _, err := c.Log.level(); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	return nil
}

// ControlAddress returns the host:port of a controller endpoint ("tls:host:port" or
// "host:port").
func ControlAddress(endpoint string) (string, error) {
	addr := endpoint
	if scheme, rest, ok := strings.Cut(endpoint, ":"); ok && strings.EqualFold(scheme, "tls") {
		addr = rest
	}
	if _, _, err := splitHostPort(addr, false); err != nil {
		return "", err
	}
	return addr, nil
}

// AdvertisedHost returns the host clients reach the edge listener by.
func (c Config) AdvertisedHost() string {
	host, _, _ := net.SplitHostPort(c.Edge.Advertise)
	return host
}

// splitHostPort checks a host:port. The host may be empty only where binding every interface
// is meant (listen addresses).
func splitHostPort(addr string, emptyHostOK bool) (string, int, error) {
	if addr == "" {
		return "", 0, errors.New("an address host:port is required")
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "" && !emptyHostOK {
		return "", 0, fmt.Errorf("%q has no host", addr)
	}
	if strings.ContainsAny(host, " /\\@?#") {
		return "", 0, fmt.Errorf("%q has an invalid host", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port must be a number from 1 to 65535", addr)
	}
	return host, port, nil
}

func checkAPIURL(raw string) error {
	if raw == "" {
		return errors.New("a URL https://host:port is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%q: the scheme must be https", raw)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q must be only https://host:port", raw)
	}
	return nil
}

func (l LogConfig) level() (slog.Level, error) {
	var level slog.Level
	switch strings.ToLower(l.Level) {
	case "debug":
		level = slog.LevelDebug
	case "info", "":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return 0, fmt.Errorf("%q is not debug, info, warn or error", l.Level)
	}
	return level, nil
}

// NewLogger returns a logger writing to w at the configured level and format.
func (l LogConfig) NewLogger(w io.Writer) *slog.Logger {
	level, _ := l.level()
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (l LinkConfig) validate() error {
	if l.Window != 0 && (l.Window < minLinkWindow || l.Window > maxLinkWindow) {
		return fmt.Errorf("link.window: %d bytes; give between %d (64 KiB) and %d (64 MiB), or leave it out for 4 MiB", l.Window, minLinkWindow, maxLinkWindow)
	}
	if l.Listen == "" {
		if l.Advertise != "" {
			return errors.New("link.advertise: set without link.listen")
		}
		return nil
	}
	if _, _, err := splitHostPort(l.Listen, true); err != nil {
		return fmt.Errorf("link.listen: %w", err)
	}
	host, _, err := splitHostPort(l.Advertise, false)
	if err != nil {
		return fmt.Errorf("link.advertise: %w", err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("link.advertise: %q is not an address other routers can reach; set link.advertise when link.listen binds every interface", l.Advertise)
	}
	return nil
}
