package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfigMatchesSystemdUnit keeps etc/controller.yml and
// etc/ostium-controller.service agreeing on where the state lives: a
// controller installed from them must write where systemd lets it.
func TestExampleConfigMatchesSystemdUnit(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "etc", "controller.yml"))
	if err != nil {
		t.Fatalf("etc/controller.yml: %v", err)
	}
	unit, err := os.ReadFile(filepath.Join("..", "etc", "ostium-controller.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ReadWritePaths="+cfg.DataDir+"\n") {
		t.Errorf("dataDir %q is not a ReadWritePaths of the systemd unit", cfg.DataDir)
	}
	if !strings.Contains(string(unit), "StateDirectory="+filepath.Base(cfg.DataDir)+"\n") {
		t.Errorf("dataDir %q is not the unit's StateDirectory", cfg.DataDir)
	}
	if cfg.Cluster.Listen != DefaultConfig().Cluster.Listen {
		t.Errorf("example cluster.listen %q, default %q", cfg.Cluster.Listen, DefaultConfig().Cluster.Listen)
	}
}

// TestExampleConfigNamesClusterPort checks that every address in the
// example's cluster section (the commented ones too) uses the cluster port,
// not the routers' 6262.
func TestExampleConfigNamesClusterPort(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "etc", "controller.yml"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\ncluster:\n")
	if !ok {
		t.Fatal("etc/controller.yml has no cluster section")
	}
	if end := strings.Index(section, "\n\n"); end >= 0 {
		section = section[:end]
	}
	if strings.Contains(section, ":6262") {
		t.Errorf("the cluster section names the routers' port 6262:\n%s", section)
	}
	if !strings.Contains(section, ":6363") {
		t.Errorf("the cluster section does not name the cluster port 6363:\n%s", section)
	}
}
