package e2e

import (
	"os"
	"testing"

	"github.com/ostium-net/ostium/tests/harness"
)

func TestMain(m *testing.M) {
	if os.Getenv(envRelayNext) != "" {
		os.Exit(runRelayProcess())
	}
	harness.Main(m)
}
