package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/tunnel"
)

// fileConfig is the optional YAML file (etc/tunnel.yml). Flags given on the
// command line win over it.
type fileConfig struct {
	Identity  string        `yaml:"identity"`
	Poll      time.Duration `yaml:"poll"`
	MaxPorts  int           `yaml:"maxPorts"`
	Intercept *bool         `yaml:"intercept"`
	Host      *bool         `yaml:"host"`
	TProxy    struct {
		Enabled   bool   `yaml:"enabled"`
		Listen    string `yaml:"listen"`
		Listen6   string `yaml:"listen6"`
		DNSListen string `yaml:"dnsListen"`
		DNSPool   string `yaml:"dnsPool"`
	} `yaml:"tproxy"`
	Proxy []string `yaml:"proxy"`
	// Ops is the plain HTTP listener of /metrics and /health (and, with
	// pprof, /debug/pprof/); off while listen is empty.
	Ops ops.Config `yaml:"ops"`
	// MFA says where a TOTP code comes from when the controller asks for
	// one; Posture (default true) answers services' posture queries with
	// this machine's facts.
	MFA struct {
		CodeFile    string   `yaml:"codeFile"`
		CodeCommand []string `yaml:"codeCommand"`
	} `yaml:"mfa"`
	Posture *bool `yaml:"posture"`
	Log     struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
}

// parseFileConfig decodes and checks a config file's content.
func parseFileConfig(data []byte) (*fileConfig, error) {
	var c fileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("tunnel config: %w", err)
	}
	if c.Poll < 0 {
		return nil, errors.New("tunnel config: poll is negative")
	}
	if c.MaxPorts < 0 {
		return nil, errors.New("tunnel config: maxPorts is negative")
	}
	if c.TProxy.DNSPool != "" {
		if _, err := netip.ParsePrefix(c.TProxy.DNSPool); err != nil {
			return nil, fmt.Errorf("tunnel config: dnsPool: %w", err)
		}
	}
	if c.TProxy.Listen != "" {
		if _, err := netip.ParseAddrPort(c.TProxy.Listen); err != nil {
			return nil, fmt.Errorf("tunnel config: tproxy.listen: %w", err)
		}
	}
	if c.TProxy.Listen6 != "" && c.TProxy.Listen6 != "off" {
		if ap, err := netip.ParseAddrPort(c.TProxy.Listen6); err != nil || !ap.Addr().Is6() || ap.Addr().Is4In6() {
			return nil, fmt.Errorf("tunnel config: tproxy.listen6 %q: want an IPv6 [address]:port or off", c.TProxy.Listen6)
		}
	}
	for _, m := range c.Proxy {
		if _, err := tunnel.ParseMapping(m); err != nil {
			return nil, fmt.Errorf("tunnel config: %w", err)
		}
	}
	if err := c.Ops.Validate(); err != nil {
		return nil, fmt.Errorf("tunnel config: %w", err)
	}
	if c.MFA.CodeFile != "" && len(c.MFA.CodeCommand) > 0 {
		return nil, errors.New("tunnel config: mfa: give codeFile or codeCommand, not both")
	}
	if len(c.MFA.CodeCommand) > 0 && strings.TrimSpace(c.MFA.CodeCommand[0]) == "" {
		return nil, errors.New("tunnel config: mfa.codeCommand: the first element is the program to run")
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return nil, fmt.Errorf("tunnel config: %w", err)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return nil, fmt.Errorf("tunnel config: log format %q: want text or json", c.Log.Format)
	}
	return &c, nil
}

func loadFileConfig(path string) (*fileConfig, error) {
	if path == "" {
		return &fileConfig{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tunnel config: %w", err)
	}
	return parseFileConfig(data)
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	l, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
