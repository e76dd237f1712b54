package sdk

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestMFACodeFailuresAreNotUnreachable: a code source that fails (a closed
// input, say) is not the controller being away, so signing in is not
// retried for it, and what it wraps stays visible.
func TestMFACodeFailuresAreNotUnreachable(t *testing.T) {
	if !IsUnreachable(fmt.Errorf("authenticate: %w", io.EOF)) {
		t.Fatal("a connection closed by the controller is no longer unreachable")
	}
	err := fmt.Errorf("authenticate: %w", &mfaCodeError{fmt.Errorf("read the code: %w", io.EOF)})
	if IsUnreachable(err) {
		t.Fatalf("%v is taken for an unreachable controller", err)
	}
	if !errors.Is(err, io.EOF) || err.Error() != "authenticate: MFA code: read the code: EOF" {
		t.Fatalf("the code source's failure is hidden: %v", err)
	}
}
