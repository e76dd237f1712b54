package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestSDKAnswersMFAWithItsCallback: once an identity has TOTP, the sdk asks
// its MFACode callback during authentication and carries on.
func TestSDKAnswersMFAWithItsCallback(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Service("mfa-svc", false)
	n.Router("router-1")
	id := n.Identity("mfa-user", "mfa-svc-dial")

	secret, verifyCode := enrollTOTP(t, n, id)
	// Each code is taken once: the verification used the current step's code,
	// the sdk's callback takes the next step's (the controller accepts one step
	// either side).
	codeAt := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Without a callback the sdk cannot finish authenticating.
	bare, _ := sdk.New(id, sdk.Options{DisableRenewal: true})
	defer bare.Close()
	if err := bare.Authenticate(context.Background()); err == nil {
		t.Fatal("authenticated an MFA identity without a code")
	}
	// A code already used is refused.
	replay, _ := sdk.New(id, sdk.Options{DisableRenewal: true, MFACode: func(context.Context) (string, error) {
		return verifyCode, nil
	}})
	defer replay.Close()
	if err := replay.Authenticate(context.Background()); err == nil {
		t.Fatal("authenticated with an MFA code that was used already")
	}
	asked := 0
	withMFA, _ := sdk.New(id, sdk.Options{DisableRenewal: true, MFACode: func(context.Context) (string, error) {
		asked++
		return codeAt(time.Now().Add(30 * time.Second)), nil
	}})
	defer withMFA.Close()
	services, err := withMFA.Services(context.Background())
	if err != nil {
		t.Fatalf("services with the MFA callback: %v", err)
	}
	if asked != 1 || len(services) != 1 {
		t.Fatalf("callback asked %d times, %d services", asked, len(services))
	}
}
