package auth

import (
	"errors"
	"strings"
	"testing"
)

var fast = Argon2Params{Time: 1, Memory: 1024, Threads: 1, KeyLen: 32}

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") || strings.Contains(h, "correct horse") {
		t.Fatalf("unexpected encoding %q", h)
	}
	if err := VerifyPassword("correct horse", h); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPassword("wrong horse", h); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	h2, _ := HashPassword("correct horse", fast)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func FuzzVerifyPassword(f *testing.F) {
	h, _ := HashPassword("pw", fast)
	f.Add("pw", h)
	f.Add("x", "$argon2id$v=19$m=1,t=1,p=1$$")
	f.Add("x", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA")
	f.Fuzz(func(t *testing.T, pw, enc string) {
		_ = VerifyPassword(pw, enc) // must not panic or allocate unbounded memory
	})
}

func TestTokens(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || len(a) != 36 || a[14] != '4' {
		t.Fatalf("tokens %q %q", a, b)
	}
	if TokenHash(a) == TokenHash(b) || len(TokenHash(a)) != 64 {
		t.Fatal("token hashes")
	}
}
