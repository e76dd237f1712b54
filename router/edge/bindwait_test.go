package edge

import (
	"context"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// idleFabric is a mesh that knows no remote terminator but announces its changes, so that a
// dial finding no terminator waits.
type idleFabric struct{ never chan struct{} }

func (f idleFabric) Terminators(string) []RemoteTerminator { return nil }
func (f idleFabric) Dial(context.Context, RemoteTerminator, FabricDial) (FabricEnd, error) {
	return nil, &FabricError{Code: wire.ErrorCodeInvalidTerminator, Message: "no mesh"}
}
func (f idleFabric) FabricChanged() <-chan struct{} { return f.never }

// TestDialWaitsForABindOnThisRouter: a Connect that arrives just before the host's Bind (a
// router that restarted, with host and dialer coming back at once) is served as soon as the
// Bind is, not refused after the wait.
func TestDialWaitsForABindOnThisRouter(t *testing.T) {
	env := startRouter(t, func(c *Config) {
		c.Fabric = idleFabric{never: make(chan struct{})}
		c.TokenWait = time.Minute // the dial is served because the bind arrives, not by time
	})
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	_, answer := dialer.startConnect(dialToken, nil)
	time.Sleep(50 * time.Millisecond)
	listener := host.newConnID()
	if reply, err := host.request(wire.NewBind([]byte(bindToken), listener, wire.BindOptions{})); err != nil || reply.ContentType != wire.ContentTypeStateConnected {
		t.Fatalf("bind: %v %v", reply, err)
	}
	// The waiting dial reaches the host as soon as it is bound, maybe before BindSuccess.
	for {
		m := host.next(listener)
		if m.ContentType != wire.ContentTypeDial {
			continue
		}
		newID, _ := m.Headers.GetUint32(wire.HeaderRouterProvidedConnID)
		reply := wire.NewDialSuccess(listener, newID)
		reply.ReplyTo(m)
		host.send(reply)
		break
	}
	if r := waitResult(t, answer); r.reply.ContentType != wire.ContentTypeStateConnected {
		t.Fatalf("the early Connect was answered %s %q", r.reply, r.reply.Body)
	}
}
