package host

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
	"github.com/ostium-net/ostium/tunnel/config"
	"github.com/ostium-net/ostium/tunnel/relay"
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
	tg, _, err := h.targetOf(dialedConn{a, ok.Encode()})
	if err != nil || tg.String() != "tcp:10.1.2.3:85" {
		t.Fatalf("target %v, %v", tg, err)
	}
	for _, appData := range [][]byte{
		config.Destination{Protocol: "tcp", IP: "11.1.2.3", Port: "85"}.Encode(),
		config.Destination{Protocol: "tcp", IP: "10.1.2.3", Port: "91"}.Encode(),
		[]byte("not json"),
		nil,
	} {
		if tg, _, err := h.targetOf(dialedConn{a, appData}); err == nil {
			t.Errorf("app data %q resolved to %v", appData, tg)
		}
	}
	// A connection without app data cannot be forwarded.
	if _, _, err := h.targetOf(a); err == nil {
		t.Error("a connection without app data resolved")
	}
}

// TestSourceAddressesAreEnforced: a dialer's source address is used only
// when allowedSourceAddresses allows it; otherwise the dial is refused and
// the target never sees a connection.
func TestSourceAddressesAreEnforced(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	seen := make(chan string, 8)
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			seen <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			_ = c.Close()
		}
	}()
	port := uint16(target.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		name    string
		allowed []string
		source  string
		want    string // the source the target sees; "" for a refusal
	}{
		{"no source asked", nil, "", "127.0.0.1"},
		{"allowed by a CIDR", []string{"10.0.0.0/8", "127.0.0.0/8"}, "127.0.0.2", "127.0.0.2"},
		{"allowed with a port", []string{"127.0.0.3"}, "127.0.0.3:0", "127.0.0.3"},
		{"not in the list", []string{"127.0.0.2"}, "127.0.0.3", ""},
		{"no list at all", nil, "127.0.0.2", ""},
		{"not an address", []string{"127.0.0.0/8"}, "localhost", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Host{cfg: &config.Host{Protocol: "tcp", Address: "127.0.0.1", Port: port, AllowedSourceAddresses: tc.allowed},
				log: slog.New(slog.DiscardHandler), counters: &relay.Counters{}, timeout: 5 * time.Second, conns: map[net.Conn]struct{}{}}
			dst := config.Destination{Protocol: "tcp", IP: "127.0.0.1", Port: fmt.Sprint(port)}.WithSource(netip.MustParseAddrPort("192.0.2.7:4000"), "")
			dst.SourceAddr = tc.source
			a, b := net.Pipe()
			defer b.Close()
			done := make(chan struct{})
			go func() { defer close(done); h.handle(dialedConn{a, dst.Encode()}) }()
			// An allowed dial can also end at once (the target closes its
			// side), so done may be ready together with seen: what the target
			// saw decides, whichever case select happens to pick.
			checkSeen := func(got string) {
				if got != tc.want {
					t.Fatalf("the target saw a connection from %s, want %q", got, tc.want)
				}
				_ = b.Close()
			}
			select {
			case got := <-seen:
				checkSeen(got)
			case <-done:
				select {
				case got := <-seen:
					checkSeen(got)
					return
				default:
				}
				if tc.want != "" {
					t.Fatalf("refused a dial from %q allowed by %v", tc.source, tc.allowed)
				}
				if s := h.counters.Snapshot(); s.Failed != 1 {
					t.Fatalf("a refusal counted %+v", s)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("neither connected nor refused")
			}
			<-done
		})
	}
}
