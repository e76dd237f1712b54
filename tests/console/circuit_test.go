package console

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ostium-net/ostium/tests/harness"
)

// aLiveCircuitIsShown dials a service while the dashboard is open: its live
// event list shows the circuit being made, and the circuits page lists it
// with its service, its dialer and the bytes it carried; ending it there
// closes the dialer's connection.
func aLiveCircuitIsShown(t *testing.T, n *harness.Network) {
	n.Service("live-echo", false)
	host := n.Context(n.Identity("live-host", "live-echo-bind"))
	client := n.Context(n.Identity("live-client", "live-echo-dial"))
	ln, err := host.Listen("live-echo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	b := newBrowser(t, n.URL())
	defer b.close()
	b.signIn("admin", harness.AdminPassword)
	b.waitFor("the dashboard's event stream", `!!document.querySelector('#dashboard-events')`)

	conn := dialWhenBound(t, client, "live-echo")
	defer conn.Close()
	msg := bytes.Repeat([]byte("circuit in the console "), 200) // 4,600 bytes
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the circuit: %v", err)
	}
	b.waitText("#dashboard-events", "circuit.created")

	b.open("circuits")
	b.waitText("main table.list", "live-echo")
	b.waitText("main table.list", "live-client")
	b.waitText("main table.list", "4.5 KiB")
	b.clickText("main table.list button", "End")
	b.clickText("dialog .actions button.danger", "End")
	b.waitText("main", "No circuits are open.")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(got); err == nil {
		t.Fatal("the dialer's connection still reads after its circuit was ended in the console")
	}
}

// dialWhenBound dials service once its host's binding has reached a router.
func dialWhenBound(t *testing.T, client interface {
	Dial(context.Context, string) (net.Conn, error)
}, service string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := client.Dial(ctx, service)
		cancel()
		if err == nil {
			return conn
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", service, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
