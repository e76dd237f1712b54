package e2e

import (
	"testing"

	"github.com/ostium-net/ostium/tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
