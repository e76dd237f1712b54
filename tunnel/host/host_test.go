package host

import (
	"net"
	"testing"

	"github.com/ostium-net/ostium/sdk/wire"
	"github.com/ostium-net/ostium/tunnel/config"
)

func TestListenOptionsOf(t *testing.T) {
	o := ListenOptionsOf(config.ListenOptions{Cost: 7, MaxConnections: 9, Precedence: "required", Identity: "named"}, "me")
	if o.Cost != 7 || o.MaxConnections != 9 || o.Precedence != wire.PrecedenceRequired || o.TerminatorIdentity != "named" {
		t.Fatalf("options %+v", o)
	}
	o = ListenOptionsOf(config.ListenOptions{BindUsingEdgeIdentity: true, Precedence: "failed"}, "me")
	if o.TerminatorIdentity != "me" || o.Precedence != wire.PrecedenceFailed {
		t.Fatalf("options %+v", o)
	}
}

// dialedConn is a connection as a host accepts it, carrying the dialer's
// application data.
type dialedConn struct {
	net.Conn
	appData []byte
}

func (c dialedConn) AppData() []byte { return c.appData }

func TestTargetOfForwardedDestination(t *testing.T) {
	cfg := &config.Host{Protocol: "tcp", ForwardAddress: true, AllowedAddresses: []string{"10.0.0.0/8"},
		ForwardPort: true, AllowedPortRanges: []config.PortRange{{Low: 80, High: 90}}}
	h := &Host{cfg: cfg}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ok := config.Destination{Protocol: "tcp", IP: "10.1.2.3", Port: "85"}
	tg, err := h.targetOf(dialedConn{a, ok.Encode()})
	if err != nil || tg.String() != "tcp:10.1.2.3:85" {
		t.Fatalf("target %v, %v", tg, err)
	}
	for _, appData := range [][]byte{
		config.Destination{Protocol: "tcp", IP: "11.1.2.3", Port: "85"}.Encode(),
		config.Destination{Protocol: "tcp", IP: "10.1.2.3", Port: "91"}.Encode(),
		[]byte("not json"),
		nil,
	} {
		if tg, err := h.targetOf(dialedConn{a, appData}); err == nil {
			t.Errorf("app data %q resolved to %v", appData, tg)
		}
	}
	// A connection without app data cannot be forwarded.
	if _, err := h.targetOf(a); err == nil {
		t.Error("a connection without app data resolved")
	}
}
