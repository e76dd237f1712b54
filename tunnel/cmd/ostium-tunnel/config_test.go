package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestExampleConfigParses keeps etc/tunnel.yml in step with the decoder.
func TestExampleConfigParses(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "etc", "tunnel.yml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseFileConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity == "" || c.Poll != 5*time.Second || c.MaxPorts != 256 || c.Intercept == nil || !*c.Intercept ||
		c.TProxy.Enabled || c.TProxy.DNSPool != "100.64.0.0/10" || c.Log.Format != "text" {
		t.Fatalf("decoded %+v", c)
	}
}

func TestParseFileConfigRejects(t *testing.T) {
	for _, bad := range []string{
		"unknownKey: 1\n",
		"poll: -1s\n",
		"poll: soon\n",
		"maxPorts: -3\n",
		"tproxy: {dnsPool: 100.64.0.0}\n",
		"tproxy: {listen: localhost}\n",
		"tproxy: {listen6: 127.0.0.1:15001}\n",
		"tproxy: {listen6: soon}\n",
		"proxy: [nocolon]\n",
		"log: {level: loud}\n",
		"log: {format: xml}\n",
	} {
		if _, err := parseFileConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if c, err := parseFileConfig(nil); err != nil || c.Identity != "" {
		t.Fatalf("empty file: %+v %v", c, err)
	}
}

func FuzzParseFileConfig(f *testing.F) {
	f.Add("identity: a.json\npoll: 1s\nproxy: [web:80]\n")
	f.Add("tproxy:\n  enabled: true\n  dnsPool: 10.0.0.0/8\n")
	f.Add("log: {level: debug, format: json}\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseFileConfig([]byte(s))
		if err != nil {
			return
		}
		if c.Poll < 0 || c.MaxPorts < 0 {
			t.Fatalf("accepted negative values: %+v", c)
		}
	})
}
