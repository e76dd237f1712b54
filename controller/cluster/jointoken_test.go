package cluster

import (
	"errors"
	"strings"
	"testing"
)

func validJoinToken() JoinToken {
	return JoinToken{APIAddress: "ctrl-1.example.com:1280", RootFingerprint: strings.Repeat("ab", 32),
		ID: "tok-1", Secret: strings.Repeat("s", 43)}
}

func TestJoinTokenRoundTrip(t *testing.T) {
	in := validJoinToken()
	out, err := ParseJoinToken("  " + in.String() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("decoded %+v, want %+v", out, in)
	}
}

func TestJoinTokenRefusesWhatIsNotOne(t *testing.T) {
	bad := func(mut func(*JoinToken)) string {
		tok := validJoinToken()
		mut(&tok)
		return tok.String()
	}
	cases := map[string]string{
		"empty":           "",
		"no prefix":       "eyJhcGkiOiJ4In0",
		"enrollment jwt":  "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
		"not base64":      joinTokenPrefix + "%%%",
		"not json":        joinTokenPrefix + "bm90IGpzb24",
		"no port":         bad(func(t *JoinToken) { t.APIAddress = "ctrl" }),
		"short ca":        bad(func(t *JoinToken) { t.RootFingerprint = "abcd" }),
		"no id":           bad(func(t *JoinToken) { t.ID = "" }),
		"short secret":    bad(func(t *JoinToken) { t.Secret = "x" }),
		"oversized token": joinTokenPrefix + strings.Repeat("A", maxJoinToken),
	}
	for name, s := range cases {
		if _, err := ParseJoinToken(s); !errors.Is(err, ErrBadJoinToken) {
			t.Errorf("%s: got %v, want ErrBadJoinToken", name, err)
		}
	}
}

func FuzzParseJoinToken(f *testing.F) {
	f.Add(validJoinToken().String())
	f.Add(joinTokenPrefix)
	f.Add(joinTokenPrefix + "e30")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		again, err := ParseJoinToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("a parsed token does not survive a round trip: %+v %v", again, err)
		}
	})
}
