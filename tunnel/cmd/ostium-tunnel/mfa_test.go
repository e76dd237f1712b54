package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMFACodeSources(t *testing.T) {
	ctx := context.Background()
	if _, err := (&mfaSource{in: strings.NewReader("123456\n")}).code(ctx); !errors.Is(err, errNoCodeSource) {
		t.Fatalf("a tunneler with no code source and no terminal: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "code")
	if err := os.WriteFile(file, []byte("123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, err := (&mfaSource{file: file}).code(ctx); err != nil || code != "123456" {
		t.Fatalf("code file: %q %v", code, err)
	}
	if _, err := (&mfaSource{file: filepath.Join(dir, "missing")}).code(ctx); err == nil {
		t.Fatal("a missing code file gave a code")
	}
	if err := os.WriteFile(file, []byte("not a code\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&mfaSource{file: file}).code(ctx); err == nil || !strings.Contains(err.Error(), "no code") {
		t.Fatalf("garbage in the code file: %v", err)
	}
	if code, err := (&mfaSource{command: []string{"sh", "-c", "echo 7654321"}}).code(ctx); err != nil || code != "7654321" {
		t.Fatalf("code command: %q %v", code, err)
	}
	if _, err := (&mfaSource{command: []string{"sh", "-c", "echo nope >&2; exit 3"}}).code(ctx); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("a failing code command: %v", err)
	}
	var prompt bytes.Buffer
	term := &mfaSource{in: strings.NewReader("111111\n222222\n"), out: &prompt, interactive: true}
	first, err1 := term.code(ctx)
	second, err2 := term.code(ctx)
	if err1 != nil || err2 != nil || first != "111111" || second != "222222" || strings.Count(prompt.String(), "MFA code: ") != 2 {
		t.Fatalf("prompt: %q %q %v %v, shown %q", first, second, err1, err2, prompt.String())
	}
}
