// Package tests holds cross-part tests; this file enforces the import rules
// of the architecture with `go list -deps`.
package tests

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ostium-net/ostium"

type pkgInfo struct {
	ImportPath string
	Deps       []string
	Imports    []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func within(path, tree string) bool {
	return path == module+"/"+tree || strings.HasPrefix(path, module+"/"+tree+"/")
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		isCmd := strings.Contains(p.ImportPath, "/cmd/")
		for _, dep := range p.Deps {
			if !strings.HasPrefix(dep, module) {
				continue
			}
			switch {
			case within(p.ImportPath, "sdk") && (within(dep, "controller") || within(dep, "router") || within(dep, "tunnel")):
				t.Errorf("%s (sdk) depends on %s: the sdk imports nothing from controller, router or tunnel", p.ImportPath, dep)
			case !isCmd && within(p.ImportPath, "controller") && within(dep, "router"):
				t.Errorf("%s depends on %s: controller and router never import each other", p.ImportPath, dep)
			case !isCmd && within(p.ImportPath, "router") && within(dep, "controller"):
				t.Errorf("%s depends on %s: controller and router never import each other", p.ImportPath, dep)
			case within(p.ImportPath, "tunnel") && (within(dep, "controller") || within(dep, "router")) && !isCmd:
				t.Errorf("%s depends on %s: the tunneler is built on the sdk only", p.ImportPath, dep)
			case within(p.ImportPath, "internal") && (within(dep, "controller") || within(dep, "router") || within(dep, "tunnel") || within(dep, "cmd")):
				t.Errorf("%s depends on %s: internal/ holds only what controller and router share, and imports none of them", p.ImportPath, dep)
			case within(dep, "cmd") && !within(p.ImportPath, "cmd") && !within(p.ImportPath, "tests"):
				t.Errorf("%s depends on %s: cmd/ is the wiring above every part; nothing below it imports it", p.ImportPath, dep)
			}
		}
		for _, imp := range p.Imports {
			if within(imp, "controller/internal/restserver") && !within(p.ImportPath, "controller/api") && !within(p.ImportPath, "controller/internal/restserver") {
				t.Errorf("%s imports %s: only controller/api may import the generated server", p.ImportPath, imp)
			}
			domain := within(p.ImportPath, "controller/store") || within(p.ImportPath, "controller/pki") ||
				within(p.ImportPath, "controller/command") || within(p.ImportPath, "controller/policy")
			if domain && within(imp, "sdk/restapi") {
				t.Errorf("%s imports %s: the domain never sees transport types", p.ImportPath, imp)
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, "\t")
		if strings.Contains(path, "/restapi/") || strings.Contains(path, "/internal/restserver") || strings.HasSuffix(path, "/restapi") {
			continue // generated
		}
		if strings.TrimSpace(doc) == "" {
			t.Errorf("%s has no package doc comment", path)
		}
	}
}
