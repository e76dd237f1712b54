package buildinfo

import (
	"strings"
	"testing"
)

func TestDefaultsAreDevelopmentBuild(t *testing.T) {
	if Version == "" || Revision == "" || BuildDate == "" {
		t.Fatal("build info must never be empty: clients parse the version as semver")
	}
	if !strings.HasPrefix(Runtime(), "go") {
		t.Fatalf("runtime %q", Runtime())
	}
}
