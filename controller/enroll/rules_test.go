package enroll_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ostium-net/ostium/controller/enroll"
	"github.com/ostium-net/ostium/controller/store"
)

func TestCheck(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e := &store.Enrollment{Meta: store.Meta{ID: "e"}, Method: store.EnrollmentOTT, ExpiresAt: now.Add(time.Minute)}
	if err := enroll.Check(e, enroll.MethodOTT, now); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := enroll.Check(e, enroll.MethodUpdb, now); !errors.Is(err, enroll.ErrInvalidToken) {
		t.Fatalf("wrong method: %v", err)
	}
	if err := enroll.Check(e, enroll.MethodOTT, now.Add(time.Minute+time.Nanosecond)); !errors.Is(err, enroll.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if err := enroll.Check(nil, enroll.MethodOTT, now); !errors.Is(err, enroll.ErrInvalidToken) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestTokenKeyChangesWithNonce(t *testing.T) {
	e := &store.Enrollment{Meta: store.Meta{ID: "abc"}}
	first := enroll.TokenKey(e)
	e.TokenNonce = "n1"
	second := enroll.TokenKey(e)
	e.TokenNonce = "n2"
	if first != "abc" || second == first || enroll.TokenKey(e) == second {
		t.Fatalf("keys %q %q %q", first, second, enroll.TokenKey(e))
	}
}

func TestIdentityName(t *testing.T) {
	v := enroll.NameValues{CAName: "corp", CAID: "ca1", CommonName: "laptop-7", RequestedName: "bob", IdentityID: "id9"}
	for format, want := range map[string]string{
		"":                                  "corp-laptop-7",
		"  ":                                "corp-laptop-7",
		"[caName]-[commonName]":             "corp-laptop-7",
		"[requestedName]@[caId]":            "bob@ca1",
		"dev [identityId] ([commonName])":   "dev id9 (laptop-7)",
		"[unknown] [commonName]":            "[unknown] laptop-7",
		"[commonName][commonName]":          "laptop-7laptop-7",
		" [requestedName] ":                 "bob",
		"static":                            "static",
		"[caName]/[caId]/[requestedName]/x": "corp/ca1/bob/x",
	} {
		if got := enroll.IdentityName(format, v); got != want {
			t.Errorf("%q: %q, want %q", format, got, want)
		}
	}
	long := enroll.IdentityName("[commonName]", enroll.NameValues{CommonName: strings.Repeat("é", 150)})
	if len(long) > enroll.MaxIdentityNameLength || !utf8.ValidString(long) {
		t.Fatalf("long name: %d bytes, valid %v", len(long), utf8.ValidString(long))
	}
}
