package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// mfaSource says where the tunneler takes a TOTP code from when the
// controller asks for one (the identity has MFA enrolled, or its auth policy
// requires it): a file holding the current code, read each time one is
// needed; a command whose output is the code; or, with neither, a prompt on
// the terminal when there is one.
type mfaSource struct {
	file    string
	command []string
	// in and out are the terminal; interactive says in is one.
	in          io.Reader
	out         io.Writer
	interactive bool

	mu     sync.Mutex
	reader *bufio.Reader
}

// codeTimeout bounds a code command.
const codeTimeout = 30 * time.Second

// errNoCodeSource says how to give the tunneler a code when the controller
// asks for one and it has no way to get it.
var errNoCodeSource = errors.New("the identity must pass MFA and this tunneler has no code source: " +
	"set mfa.codeFile or mfa.codeCommand in the config (--mfa-code-file, --mfa-code-command), or run it on a terminal")

// code is the sdk's MFACode: it reads, runs or asks for the current code.
func (m *mfaSource) code(ctx context.Context) (string, error) {
	var raw string
	switch {
	case m.file != "":
		b, err := os.ReadFile(m.file)
		if err != nil {
			return "", fmt.Errorf("read the MFA code from %s: %w", m.file, err)
		}
		raw = string(b)
	case len(m.command) > 0:
		ctx, cancel := context.WithTimeout(ctx, codeTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, m.command[0], m.command[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("MFA code command %s: %w: %s", m.command[0], err, strings.TrimSpace(stderr.String()))
		}
		raw = string(b)
	case !m.interactive:
		return "", errNoCodeSource
	default:
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.reader == nil {
			m.reader = bufio.NewReader(m.in)
		}
		fmt.Fprint(m.out, "MFA code: ")
		line, err := m.reader.ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("read the MFA code: %w", err)
		}
		raw = line
	}
	code := strings.TrimSpace(raw)
	if !isCode(code) {
		return "", errors.New("the MFA code source gave no code (6 to 8 digits)")
	}
	return code, nil
}

func isCode(s string) bool {
	if len(s) < 6 || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
