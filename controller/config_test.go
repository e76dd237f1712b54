package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Listen != "127.0.0.1:1280" || time.Duration(cfg.API.SessionIdleTimeout) != 30*time.Minute {
		t.Fatalf("defaults: %+v", cfg.API)
	}
	a := cfg.API
	if cfg.SessionMaxLifetime() != 24*time.Hour || time.Duration(a.ReadHeaderTimeout) != 10*time.Second ||
		time.Duration(a.ReadTimeout) != 30*time.Second || time.Duration(a.IdleTimeout) != 2*time.Minute ||
		a.MaxRequestBytes != 1<<20 || time.Duration(a.AuthEventRetention) != 30*24*time.Hour {
		t.Fatalf("defaults of the API's limits: %+v", a)
	}
	if cfg.AdvertiseAddr() != "127.0.0.1:1280" {
		t.Fatalf("advertise defaults to listen, got %q", cfg.AdvertiseAddr())
	}
}

func TestSessionMaxLifetimeFollowsALongIdleTimeout(t *testing.T) {
	cfg, err := ParseConfig([]byte("api:\n  sessionIdleTimeout: 48h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionMaxLifetime() != 48*time.Hour {
		t.Fatalf("max lifetime %v with an idle timeout of 48h and none set", cfg.SessionMaxLifetime())
	}
	if cfg, _ = ParseConfig([]byte("api:\n  sessionMaxLifetime: 2h\n")); cfg.SessionMaxLifetime() != 2*time.Hour {
		t.Fatalf("configured max lifetime: %v", cfg.SessionMaxLifetime())
	}
}

func TestConfigErrorsAreClear(t *testing.T) {
	cases := map[string]string{
		"api:\n  listne: x\n":                                                        "field listne not found",
		"api:\n  listen: nope\n":                                                     "api.listen",
		"api:\n  sessionIdleTimeout: 5s\n":                                           "at least 1m",
		"api:\n  sessionIdleTimeout: forever\n":                                      "duration",
		"api:\n  sessionIdleTimeout: 2h\n  sessionMaxLifetime: 1h\n":                 "sessionMaxLifetime",
		"api:\n  sessionMaxLifetime: 10000h\n":                                       "sessionMaxLifetime",
		"api:\n  sessionMaxLifetime: 30s\n":                                          "sessionMaxLifetime",
		"api:\n  readHeaderTimeout: 10ms\n":                                          "readHeaderTimeout",
		"api:\n  readHeaderTimeout: 20s\n  readTimeout: 10s\n":                       "not shorter than readHeaderTimeout",
		"api:\n  idleTimeout: 2h\n":                                                  "idleTimeout",
		"api:\n  maxRequestBytes: 100\n":                                             "maxRequestBytes",
		"api:\n  maxRequestBytes: lots\n":                                            "parse config",
		"api:\n  authEventRetention: 5m\n":                                           "authEventRetention",
		"pki:\n  keyAlgorithm: dsa\n":                                                "pki.keyAlgorithm",
		"pki:\n  ipAddresses: [\"localhost\"]\n":                                     "not an IP",
		"log:\n  level: loud\n":                                                      "log.level",
		"api:\n  oidc:\n    accessTokenLifetime: 30s\n":                              "between 1m and 24h",
		"api:\n  oidc:\n    accessTokenLifetime: 1h\n    refreshTokenLifetime: 1h\n": "a minute longer",
		"api:\n  oidc:\n    redirectURIs: [\"ftp://x/cb\"]\n":                        "redirectURIs",
		"[": "parse config",
	}
	for in, want := range cases {
		_, err := ParseConfig([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error mentioning %q", in, err, want)
		}
	}
}

func TestLoadConfigResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "controller.yml")
	if err := os.WriteFile(path, []byte("dataDir: data\npki:\n  dir: pki\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != filepath.Join(dir, "data") || cfg.PKIDir() != filepath.Join(dir, "pki") {
		t.Fatalf("paths not resolved: %q %q", cfg.DataDir, cfg.PKIDir())
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("dataDir: x\napi:\n  listen: 127.0.0.1:1\n"))
	f.Add([]byte("cluster:\n  join: a:1\n"))
	f.Add([]byte("{"))
	f.Add([]byte("dataDir: x\nops:\n  listen: 127.0.0.1:9090\n  pprof: true\n"))
	f.Add([]byte("dataDir: x\nops: {listen: nonsense}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err == nil && cfg.DataDir == "" {
			t.Fatal("valid config without a data dir")
		}
	})
}

func TestEventsAndAuditConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte("events:\n  file:\n    path: ev.jsonl\n    maxSizeMB: 10\n    maxFiles: 3\n    types: circuit,entity.created\naudit:\n  retention: 720h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Events.File; f == nil || f.Path != "ev.jsonl" || f.MaxSizeMB != 10 || f.MaxFiles != 3 || time.Duration(cfg.Audit.Retention) != 720*time.Hour {
		t.Fatalf("parsed %+v %+v", cfg.Events.File, cfg.Audit)
	}
	for _, bad := range []string{
		"events:\n  file:\n    maxSizeMB: 10\n",
		"events:\n  file:\n    path: x\n    maxSizeMB: -1\n",
		"events:\n  file:\n    path: x\n    maxFiles: 5000\n",
		"events:\n  file:\n    path: x\n    types: circuits\n",
		"events:\n  file:\n    path: x\n    rotate: true\n",
		"audit:\n  retention: 10m\n",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
