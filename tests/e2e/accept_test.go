package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
)

// TestManualStartHostAnswersTheDial covers a host that decides each dial
// itself: a refusal reaches the dialer with the host's reason, an acceptance
// gives a working connection (encrypted or not), and a host that never
// answers refuses in time for the dialer to hear it.
func TestManualStartHostAnswersTheDial(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			e := newEchoNetwork(t, "gated", encrypted)
			ln, err := e.host.ListenWithOptions("gated", &sdk.ListenOptions{ManualStart: true, AcceptTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			tryLate, lateErr := make(chan struct{}), make(chan error, 1)
			// The host answers by what the dialer attached: "refuse", "accept" or
			// "ignore" (leave it pending), "close" (close before answering).
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					pc, ok := c.(sdk.PendingConn)
					if !ok {
						t.Errorf("a ManualStart listener accepted a %T, not a PendingConn", c)
						_ = c.Close()
						return
					}
					appData := ""
					if ad, ok := c.(interface{ AppData() []byte }); ok {
						appData = string(ad.AppData())
					}
					switch appData {
					case "refuse":
						pc.CompleteAcceptFailed(errors.New("cannot reach the target tcp:127.0.0.1:9: connection refused"))
					case "close":
						_ = c.Close()
					case "ignore":
						go func() {
							<-tryLate
							lateErr <- pc.CompleteAcceptSuccess()
						}()
					default:
						go func() {
							// A write before the answer waits for it.
							done := make(chan struct{})
							go func() {
								defer close(done)
								_, _ = c.Write([]byte("greeting "))
							}()
							time.Sleep(50 * time.Millisecond)
							if err := pc.CompleteAcceptSuccess(); err != nil {
								t.Errorf("accept: %v", err)
								return
							}
							<-done
							_, _ = io.Copy(c, c)
							_ = c.Close()
						}()
					}
				}
			}()
			dial := func(appData string) (net.Conn, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				return e.client.DialWithOptions(ctx, "gated", &sdk.DialOptions{AppData: []byte(appData)})
			}

			_, err = dial("refuse")
			var de *sdk.DialError
			if !errors.As(err, &de) || !de.HostRefused() || !strings.Contains(err.Error(), "cannot reach the target tcp:127.0.0.1:9: connection refused") {
				t.Fatalf("refused dial: %v (%T), want the host's reason", err, err)
			}

			c, err := dial("accept")
			if err != nil {
				t.Fatalf("accepted dial: %v", err)
			}
			_, _ = c.Write([]byte("ping"))
			_ = c.(interface{ CloseWrite() error }).CloseWrite()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			got, err := io.ReadAll(c)
			_ = c.Close()
			if err != nil || string(got) != "greeting ping" {
				t.Fatalf("accepted connection read %q, %v", got, err)
			}

			if _, err := dial("close"); err == nil || !strings.Contains(err.Error(), "closed the connection before accepting") {
				t.Fatalf("dial closed by the host: %v", err)
			}
			if _, err := dial("ignore"); err == nil || !strings.Contains(err.Error(), "did not accept the connection in time") {
				t.Fatalf("dial left pending: %v", err)
			}
			// Accepting once the dial timed out fails instead of reviving it.
			close(tryLate)
			if err := <-lateErr; err == nil {
				t.Fatal("accepting after the accept timeout succeeded")
			}
		})
	}
}
