package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/cmd/internal/cli"
)

// buildOstium builds this command into a temporary directory.
func buildOstium(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ostium")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// quickstartProcess is `ostium quickstart` running as a child process.
type quickstartProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	ready  chan struct{}
	exited chan error
}

func (p *quickstartProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startQuickstart(t *testing.T, bin, home string) *quickstartProcess {
	t.Helper()
	cmd := exec.Command(bin, "quickstart", "--home", home, "--api", "127.0.0.1:0", "--edge", "127.0.0.1:0",
		"--router-control", "127.0.0.1:0", "--cluster", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	p := &quickstartProcess{cmd: cmd, ready: make(chan struct{}), exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") && !signalled {
				signalled = true
				close(p.ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case <-p.ready:
	case err := <-p.exited:
		t.Fatalf("quickstart exited early (%v):\n%s", err, p.output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("quickstart not ready:\n%s", p.output())
	}
	return p
}

// interrupt sends Ctrl-C and expects a clean exit.
func (p *quickstartProcess) interrupt(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("quickstart exit after Ctrl-C: %v\n%s", err, p.output())
		}
	case <-time.After(time.Minute):
		t.Fatalf("quickstart did not stop on Ctrl-C:\n%s", p.output())
	}
	if !strings.Contains(p.output(), "stopping") {
		t.Fatalf("no clean stop:\n%s", p.output())
	}
}

// ostium runs the CLI in-process with a private configuration directory.
func ostium(t *testing.T, configDir, stdin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, ConfigDir: configDir})
	if code != 0 {
		t.Fatalf("ostium %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String()
}

// commandArgs splits a printed command line (no quoting beyond '...').
func commandArgs(line string) []string {
	var args []string
	for _, f := range regexp.MustCompile(`'[^']*'|\S+`).FindAllString(line, -1) {
		args = append(args, strings.Trim(f, "'"))
	}
	return args
}

// TestQuickstartAsANewUser runs `ostium quickstart`, follows the commands it
// prints (enroll, dial, login), stops it with Ctrl-C and starts it again.
func TestQuickstartAsANewUser(t *testing.T) {
	bin := buildOstium(t)
	home := filepath.Join(t.TempDir(), "qs")
	configDir := t.TempDir()

	p := startQuickstart(t, bin, home)
	out := p.output()
	var enrollLine, dialLine, loginLine string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, bin+" enroll "):
			enrollLine = l
		case strings.HasPrefix(l, "echo hello | "+bin+" dial "):
			dialLine = strings.TrimPrefix(l, "echo hello | ")
		case strings.HasPrefix(l, bin+" login "):
			loginLine = l
		}
	}
	if enrollLine == "" || dialLine == "" || loginLine == "" {
		t.Fatalf("the quickstart printed no demo commands:\n%s", out)
	}
	if !regexp.MustCompile(`password "[A-Z0-9]{16,}"`).MatchString(out) {
		t.Fatalf("no generated admin password shown:\n%s", out)
	}
	ostium(t, configDir, "", commandArgs(enrollLine)[1:]...)
	if got := ostium(t, configDir, "hello\n", commandArgs(dialLine)[1:]...); got != "hello\n" {
		t.Fatalf("dial echoed %q", got)
	}
	ostium(t, configDir, "", append(commandArgs(loginLine)[1:], "--yes")...)
	if list := ostium(t, configDir, "", "list", "services"); !strings.Contains(list, "echo") {
		t.Fatalf("services:\n%s", list)
	}
	dialDown(t, configDir, commandArgs(dialLine)[1:])
	p.interrupt(t)

	// Again from the same home: nothing is initialised twice, the admin works.
	p = startQuickstart(t, bin, home)
	out = p.output()
	if !strings.Contains(out, "reusing the network") || !strings.Contains(out, "already enrolled") {
		t.Fatalf("second start:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, bin+" login ") {
			ostium(t, configDir, "", append(commandArgs(l)[1:], "--yes")...)
		}
	}
	if list := ostium(t, configDir, "", "list", "identities", `name = "echo-client"`); !strings.Contains(list, "echo-client") {
		t.Fatalf("identities after restart:\n%s", list)
	}
	p.interrupt(t)
}

// dialDown publishes a service whose application is down, hosted by the
// quickstart's tunneler, and dials it as the demo client: the dial must fail
// with the host's reason and exit 1, not print nothing and exit 0.
func dialDown(t *testing.T, configDir string, echoDial []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	_ = ln.Close()
	_, port, _ := net.SplitHostPort(target)
	ostium(t, configDir, "", "create", "config", "down-host", "--config-type", "host.v1",
		"--config-data", `{"protocol":"tcp","address":"127.0.0.1","port":`+port+`}`)
	ostium(t, configDir, "", "create", "service", "down", "--configs", "down-host")
	ostium(t, configDir, "", "create", "service-policy", "down-bind", "Bind", "--identity-roles", "#echo-host", "--service-roles", "@down")
	ostium(t, configDir, "", "create", "service-policy", "down-dial", "Dial", "--identity-roles", "#echo-client", "--service-roles", "@down")
	args := slices.Clone(echoDial)
	args[slices.Index(args, "echo")] = "down"
	want := "cannot reach the target tcp:" + target + ": connection refused"
	deadline := time.Now().Add(time.Minute)
	for {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), args, cli.Env{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &errOut, ConfigDir: configDir})
		if code == cli.ExitError && strings.Contains(errOut.String(), want) && out.Len() == 0 {
			return
		}
		if code == 0 {
			t.Fatalf("dial of a service whose application is down exited 0 with %q", out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial of a service whose application is down: exit %d, stderr %q; want exit 1 saying %q", code, errOut.String(), want)
		}
		time.Sleep(500 * time.Millisecond) // the tunneler binds the new service at its next poll
	}
}
