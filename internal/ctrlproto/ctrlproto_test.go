package ctrlproto

import (
	"strings"
	"testing"
)

func TestRoundTripAndHash(t *testing.T) {
	in := Sync{RouterID: "r", Index: 7, APISessions: []APISession{{ID: "a", TokenHash: TokenHash("tok"), CertFingerprints: []string{"ff"}}},
		Sessions: []Session{{ID: "s", Type: "Dial"}}, Services: []Service{{ID: "svc", EncryptionRequired: true}}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Sync
	if err := Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Index != 7 || out.APISessions[0].TokenHash != TokenHash("tok") || len(TokenHash("x")) != 64 || !out.Services[0].EncryptionRequired {
		t.Fatalf("round trip: %+v", out)
	}
	if strings.Contains(string(b), `"tok"`) {
		t.Fatal("a token travels in clear")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"index":1,"events":[{"kind":"delete","session":{"id":"x"}}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Events
		_ = Decode(b, &e)
		var s Sync
		_ = Decode(b, &s)
	})
}
