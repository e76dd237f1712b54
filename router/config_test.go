package router

import (
	"cmp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const identityYAML = `
identity:
  cert: router.cert
  key: router.key
  serverCert: router.server.cert
  serverKey: router.server.key
  ca: ca.pem
`

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(identityYAML))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Controller.Endpoint != DefaultControllerEndpoint || cfg.Controller.APIURL != DefaultControllerAPIURL {
		t.Errorf("controller defaults = %+v", cfg.Controller)
	}
	if cfg.Edge.Listen != DefaultEdgeListen || cfg.Edge.Advertise != DefaultEdgeListen {
		t.Errorf("edge defaults = %+v, want advertise = listen", cfg.Edge)
	}
	if cfg.Log.Level != "info" || cfg.Log.Format != "text" {
		t.Errorf("log defaults = %+v", cfg.Log)
	}
	addr, err := ControlAddress(cfg.Controller.Endpoint)
	if err != nil || addr != "127.0.0.1:6262" {
		t.Errorf("ControlAddress = %q, %v", addr, err)
	}
	if cfg.AdvertisedHost() != "127.0.0.1" {
		t.Errorf("AdvertisedHost = %q", cfg.AdvertisedHost())
	}
}

func TestParseConfigFull(t *testing.T) {
	cfg, err := ParseConfig([]byte(identityYAML + `
controller:
  endpoint: ctrl.example.com:7000
  apiURL: https://ctrl.example.com:1280
edge:
  listen: 0.0.0.0:443
  advertise: edge.example.com:443
log:
  level: debug
  format: json
`))
	if err != nil {
		t.Fatal(err)
	}
	if addr, _ := ControlAddress(cfg.Controller.Endpoint); addr != "ctrl.example.com:7000" {
		t.Errorf("control address = %q", addr)
	}
	if cfg.AdvertisedHost() != "edge.example.com" || cfg.Edge.Listen != "0.0.0.0:443" {
		t.Errorf("edge = %+v", cfg.Edge)
	}
	if cfg.Identity.ServerKey != "router.server.key" {
		t.Errorf("identity = %+v", cfg.Identity)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown field":       {identityYAML + "edge:\n  listn: 1.2.3.4:5\n", "field listn not found"},
		"missing identity":    {"log:\n  level: info\n", "identity.cert: a file path is required"},
		"missing ca":          {strings.Replace(identityYAML, "ca: ca.pem", "", 1), "identity.ca"},
		"shared key path":     {strings.Replace(identityYAML, "serverKey: router.server.key", "serverKey: ./router.key", 1), "identity.serverKey"},
		"endpoint no port":    {identityYAML + "controller:\n  endpoint: tls:ctrl.example.com\n", "controller.endpoint"},
		"endpoint bad port":   {identityYAML + "controller:\n  endpoint: 127.0.0.1:99999\n", "port must be"},
		"endpoint no host":    {identityYAML + "controller:\n  endpoint: tls::6262\n", "has no host"},
		"endpoints bad":       {identityYAML + "controller:\n  endpoints: [tls:a.example.com:6262, tls:b.example.com]\n", "controller.endpoints[1]"},
		"api url http":        {identityYAML + "controller:\n  apiURL: http://127.0.0.1:1280\n", "scheme must be https"},
		"api url with path":   {identityYAML + "controller:\n  apiURL: https://127.0.0.1:1280/edge/client/v1\n", "only https://host:port"},
		"listen garbage":      {identityYAML + "edge:\n  listen: nowhere\n", "edge.listen"},
		"unspecified adverts": {identityYAML + "edge:\n  listen: 0.0.0.0:3022\n", "set edge.advertise"},
		"no advertise host":   {identityYAML + "edge:\n  listen: :3022\n", "edge.advertise"},
		"bad level":           {identityYAML + "log:\n  level: loud\n", "log.level"},
		"bad format":          {identityYAML + "log:\n  format: xml\n", "log.format"},
		"not a mapping":       {"- a\n- b\n", "parse config"},
		"wrong type":          {identityYAML + "edge: 5\n", "parse config"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	if _, err := ParseConfig(make([]byte, MaxConfigSize+1)); err == nil {
		t.Error("an oversized config was accepted")
	}
}

func TestLoadConfigResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "router.yml")
	if err := os.WriteFile(path, []byte(strings.Replace(identityYAML, "ca: ca.pem", "ca: /etc/ostium/ca.pem", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Identity.Cert != filepath.Join(dir, "router.cert") {
		t.Errorf("cert = %q, want it next to the config", cfg.Identity.Cert)
	}
	if cfg.Identity.CA != "/etc/ostium/ca.pem" {
		t.Errorf("absolute path changed to %q", cfg.Identity.CA)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yml")); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestParseConfigRestartSettings(t *testing.T) {
	cfg, err := ParseConfig([]byte(identityYAML))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatePath() != filepath.Join(".", StateFileName) || cfg.DrainTimeout != 0 || cfg.StateMaxAge != 0 {
		t.Errorf("defaults: state %q, drain %s, max age %s", cfg.StatePath(), cfg.DrainTimeout, cfg.StateMaxAge)
	}
	cfg, err = ParseConfig([]byte(identityYAML + "dataDir: /var/lib/ostium/r1\nstateMaxAge: 2h\ndrainTimeout: 30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatePath() != "/var/lib/ostium/r1/"+StateFileName || cfg.StateMaxAge != 2*time.Hour || cfg.DrainTimeout != 30*time.Second {
		t.Errorf("state %q, max age %s, drain %s", cfg.StatePath(), cfg.StateMaxAge, cfg.DrainTimeout)
	}
	for _, bad := range []string{"drainTimeout: -1s\n", "drainTimeout: 10\n", "stateMaxAge: soon\n", "stateMaxAge: -2h\n"} {
		if _, err := ParseConfig([]byte(identityYAML + bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "router.yml")
	if err := os.WriteFile(path, []byte(identityYAML+"dataDir: state\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := LoadConfig(path); err != nil || cfg.StatePath() != filepath.Join(dir, "state", StateFileName) {
		t.Errorf("relative dataDir: %q, %v", cfg.StatePath(), err)
	}
	if err := os.WriteFile(path, []byte(identityYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := LoadConfig(path); err != nil || cfg.StatePath() != filepath.Join(dir, StateFileName) {
		t.Errorf("default dataDir: %q, %v, want next to identity.cert", cfg.StatePath(), err)
	}
}

func TestExampleConfigParses(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "etc", "router.yml"))
	if err != nil {
		t.Fatalf("etc/router.yml: %v", err)
	}
	if cfg.Edge.Listen == "" {
		t.Error("example has no edge listener")
	}
	// systemd must wait for the drain before it kills the router.
	unit, err := os.ReadFile(filepath.Join("..", "etc", "ostium-router.service"))
	if err != nil {
		t.Fatal(err)
	}
	var stop time.Duration
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "TimeoutStopSec="); ok {
			if stop, err = time.ParseDuration(v); err != nil {
				t.Fatalf("TimeoutStopSec=%s: %v", v, err)
			}
		}
	}
	if drain := cmp.Or(cfg.DrainTimeout, DefaultDrainTimeout); stop < drain+5*time.Second {
		t.Errorf("the unit's TimeoutStopSec (%s) leaves the drain (%s) less than 5 s to end", stop, drain)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(identityYAML))
	f.Add([]byte(""))
	f.Add([]byte(identityYAML + "controller:\n  endpoint: tls:[::1]:6262\n  apiURL: https://[::1]:1280\nedge:\n  listen: '[::]:3022'\n  advertise: edge.example.com:3022\n"))
	f.Add([]byte("identity: {cert: a, key: b, serverCert: c, serverKey: d, ca: e}\nlog: {level: warn, format: json}\n"))
	f.Add([]byte("edge:\n  listen: &a 1.2.3.4:5\n  advertise: *a\n"))
	f.Add([]byte("{{{{"))
	f.Add([]byte(identityYAML + "ops:\n  listen: 127.0.0.1:9091\n  pprof: true\n"))
	f.Add([]byte(identityYAML + "dataDir: /tmp/r\nstateMaxAge: 1h\ndrainTimeout: 3s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		// Whatever parses is valid and usable.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config that Validate refuses: %v", err)
		}
		if _, err := ControlAddress(cfg.Controller.Endpoint); err != nil {
			t.Fatalf("accepted endpoint %q has no address: %v", cfg.Controller.Endpoint, err)
		}
		if cfg.AdvertisedHost() == "" {
			t.Fatalf("accepted advertise %q has no host", cfg.Edge.Advertise)
		}
	})
}

func TestParseConfigLink(t *testing.T) {
	cfg, err := ParseConfig([]byte(identityYAML + "link:\n  listen: 0.0.0.0:6000\n  advertise: b.example.com:6000\n  cost: 7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Link.Listen != "0.0.0.0:6000" || cfg.Link.Advertise != "b.example.com:6000" || cfg.Link.Cost != 7 {
		t.Fatalf("link = %+v", cfg.Link)
	}
	cfg, err = ParseConfig([]byte(identityYAML + "link:\n  listen: 10.0.0.2:6000\n"))
	if err != nil || cfg.Link.Advertise != "10.0.0.2:6000" {
		t.Fatalf("advertise should default to listen: %+v %v", cfg.Link, err)
	}
	if cfg, err = ParseConfig([]byte(identityYAML + "link:\n  window: 2097152\n")); err != nil || cfg.Link.Window != 2<<20 {
		t.Fatalf("a window alone, for a router that only dials: %+v %v", cfg.Link, err)
	}
	if cfg, err = ParseConfig([]byte(identityYAML)); err != nil || cfg.Link.Listen != "" {
		t.Fatalf("a router without link section only dials: %+v %v", cfg.Link, err)
	}
	for _, bad := range []string{
		"link:\n  listen: 0.0.0.0:6000\n",               // no reachable advertise
		"link:\n  advertise: b.example.com:6000\n",      // advertise without listen
		"link:\n  listen: nonsense\n",                   // not host:port
		"link:\n  listen: 127.0.0.1:6000\n  cost: -1\n", // not a uint16
		"link:\n  listen: 127.0.0.1:6000\n  costs: 1\n", // typo
		"link:\n  window: 1000\n",                       // below 64 KiB
		"link:\n  window: 100000000\n",                  // above 64 MiB
	} {
		if _, err := ParseConfig([]byte(identityYAML + bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseConfigOps(t *testing.T) {
	cfg, err := ParseConfig([]byte(identityYAML + "ops:\n  listen: 127.0.0.1:9091\n  pprof: true\n"))
	if err != nil || cfg.Ops.Listen != "127.0.0.1:9091" || !cfg.Ops.Pprof {
		t.Fatalf("ops = %+v, %v", cfg.Ops, err)
	}
	if cfg, err := ParseConfig([]byte(identityYAML)); err != nil || cfg.Ops.Enabled() {
		t.Fatalf("the ops listener is on by default: %+v %v", cfg.Ops, err)
	}
	for _, bad := range []string{"ops:\n  listen: 9091\n", "ops:\n  listen: 127.0.0.1\n", "ops:\n  pprof: true\n", "ops:\n  listen: 127.0.0.1:9091\n  prof: true\n"} {
		_, err := ParseConfig([]byte(identityYAML + bad))
		if err == nil || !strings.Contains(err.Error(), "ops") && !strings.Contains(err.Error(), "prof") {
			t.Errorf("%q: %v, want an error naming the ops field", bad, err)
		}
	}
}
