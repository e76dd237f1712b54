package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary doubles as a TLS relay process, so that a baseline chain of relays can run
// as processes, as the routers it is compared with do. These variables make it one.
const (
	envRelayNext = "OSTIUM_E2E_RELAY_NEXT" // where the relay connects (TLS)
	envRelayCert = "OSTIUM_E2E_RELAY_CERT" // PEM certificate it serves, also the CA it trusts
	envRelayKey  = "OSTIUM_E2E_RELAY_KEY"  // PEM key of that certificate
)

// runRelayProcess serves as a TLS relay on a free loopback port, which it prints first, until
// its input closes or it is killed. It returns the exit code.
func runRelayProcess() int {
	cert, err := tls.LoadX509KeyPair(os.Getenv(envRelayCert), os.Getenv(envRelayKey))
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 2
	}
	pool := x509.NewCertPool()
	if der, err := os.ReadFile(os.Getenv(envRelayCert)); err != nil || !pool.AppendCertsFromPEM(der) {
		fmt.Fprintln(os.Stderr, "relay: reading the CA:", err)
		return 2
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 2
	}
	fmt.Println(ln.Addr().String())
	next, cfg := os.Getenv(envRelayNext), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	for {
		c, err := ln.Accept()
		if err != nil {
			return 0
		}
		go func() { defer c.Close(); relay(c, next, cfg) }()
	}
}

// tlsPairFiles is tlsPair with the certificate and key also written as PEM files.
func tlsPairFiles(b *testing.B) (server, client *tls.Config, certFile, keyFile string) {
	b.Helper()
	der, key := benchCert(b)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	certFile, keyFile = filepath.Join(dir, "relay.crt"), filepath.Join(dir, "relay.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		b.Fatal(err)
	}
	server, client = tlsConfigs(der, key)
	return server, client, certFile, keyFile
}

// startRelayProcess runs the test binary as a relay towards next and returns its address.
func startRelayProcess(b *testing.B, next, certFile, keyFile string) string {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envRelayNext+"="+next, envRelayCert+"="+certFile, envRelayKey+"="+keyFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("the relay process did not start: %v", err)
	}
	return strings.TrimSpace(addr)
}

// tlsChainProcessPath: client --TLS--> relay --TLS--> relay --TLS--> relay --TLS--> server,
// each relay a process of its own; client and server run in this process.
func tlsChainProcessPath(b *testing.B, handle func(net.Conn)) benchPath {
	srvCfg, cliCfg, certFile, keyFile := tlsPairFiles(b)
	backend, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	sink(b, backend, handle)
	next := backend.Addr().String()
	for range 3 {
		next = startRelayProcess(b, next, certFile, keyFile)
	}
	first := next
	return benchPath{"tls-chain-processes", func(b *testing.B) net.Conn {
		c, err := tls.Dial("tcp", first, cliCfg)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}
}
