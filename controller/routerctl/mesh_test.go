package routerctl

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

func (f *fixture) connectWithLink(t *testing.T, cert tls.Certificate, link *ctrlproto.LinkListener) (*wire.Conn, chan *wire.Message) {
	t.Helper()
	c, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.ca.CAPool(), Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pushed := make(chan *wire.Message, 64)
	wc := wire.NewConn(c, func(m *wire.Message) { pushed <- m }, wire.ConnConfig{})
	t.Cleanup(func() { _ = wc.Close() })
	body, _ := ctrlproto.Encode(ctrlproto.Hello{Version: "test", Link: link})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := wc.Request(ctx, wire.NewMessage(ctrlproto.TypeHello, body))
	if err != nil || !reply.ResultSuccess() {
		t.Fatalf("hello: %v %v", err, reply)
	}
	return wc, pushed
}

// TestMeshLinksTopologyAndCircuits: a router's link listener lands on its record and in every
// router's Sync; its link reports (checked) become the topology pushed to routers and listed
// by Links, and go when it disconnects; circuits are asked of the routers.
func TestMeshLinksTopologyAndCircuits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.st.Create(ctx, store.Services, &store.Service{Meta: store.Meta{ID: "svc"}, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	wc, pushed := f.connectWithLink(t, f.cert, &ctrlproto.LinkListener{Address: "127.0.0.1:4000", Cost: 5})
	var sync ctrlproto.Sync
	if err := ctrlproto.Decode(next(t, pushed, ctrlproto.TypeSync).Body, &sync); err != nil {
		t.Fatal(err)
	}
	if len(sync.Routers) != 1 || sync.Routers[0].Link == nil || sync.Routers[0].Link.Address != "127.0.0.1:4000" || sync.Routers[0].Link.Cost != 5 || sync.Routers[0].Fingerprint == "" {
		t.Fatalf("sync routers: %+v", sync.Routers)
	}
	// Terminators of every router reach every router as events.
	if _, err := f.st.Create(ctx, store.Terminators, &store.Terminator{ServiceID: "svc", RouterID: f.routerID, Binding: "edge", Address: "local-1", Cost: 7, Precedence: "default"}); err != nil {
		t.Fatal(err)
	}
	var ev ctrlproto.Events
	for ev.Events == nil || ev.Events[0].Terminator == nil {
		ev = ctrlproto.Events{}
		_ = ctrlproto.Decode(next(t, pushed, ctrlproto.TypeEvents).Body, &ev)
	}
	if term := ev.Events[0].Terminator; term.LocalID != "local-1" || term.RouterID != f.routerID || term.Cost != 7 {
		t.Fatalf("terminator event: %+v", term)
	}
	rec, _ := f.st.Get(store.EdgeRouters, f.routerID)
	if er := rec.(*store.EdgeRouter); er.LinkAddress != "127.0.0.1:4000" || er.LinkCost != 5 {
		t.Fatalf("link listener not recorded: %+v", er)
	}

	// A report: one good link, and entries that are not the router's or are malformed.
	body, _ := ctrlproto.Encode(ctrlproto.LinkReport{Links: []ctrlproto.LinkState{
		{ID: "l1", Source: f.routerID, Dest: "peer", State: ctrlproto.LinkConnected, LatencyMicros: 250, Cost: 5},
		{ID: "l2", Source: "someone", Dest: "else", State: ctrlproto.LinkConnected},
		{ID: "l3", Source: f.routerID, Dest: "peer", State: "sideways"},
		{ID: "", Source: f.routerID, Dest: "peer", State: ctrlproto.LinkFailed},
	}})
	if err := wc.Send(ctx, wire.NewMessage(ctrlproto.TypeLinkReport, body)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var topo ctrlproto.Topology
		if err := ctrlproto.Decode(next(t, pushed, ctrlproto.TypeTopology).Body, &topo); err != nil {
			t.Fatal(err)
		}
		if len(topo.Links) == 1 && topo.Links[0].ID == "l1" && topo.Links[0].LatencyMicros == 250 {
			break
		}
		if len(topo.Links) > 1 || time.Now().After(deadline) {
			t.Fatalf("topology: %+v", topo)
		}
	}
	if links := f.srv.Links(); len(links) != 1 || links[0].ID != "l1" {
		t.Fatalf("links: %+v", links)
	}

	// Circuits are asked of the router; it answers, and a circuit of another router is
	// dropped from its answer.
	go func() {
		m := next(t, pushed, ctrlproto.TypeCircuitsRequest)
		reply := wire.NewResult(true, "")
		reply.Body, _ = ctrlproto.Encode(ctrlproto.Circuits{Circuits: []ctrlproto.Circuit{
			{ID: "c1", ServiceID: "svc", Path: []string{f.routerID, "peer"}, BytesUp: 10},
			{ID: "c2", ServiceID: "svc", Path: []string{"peer", f.routerID}},
		}})
		reply.ReplyTo(m)
		_ = wc.Send(context.Background(), reply)
	}()
	circuits, err := f.srv.Circuits(ctx)
	if err != nil || len(circuits) != 1 || circuits[0].ID != "c1" || circuits[0].BytesUp != 10 {
		t.Fatalf("circuits: %+v %v", circuits, err)
	}
	go func() {
		m := next(t, pushed, ctrlproto.TypeCircuitClose)
		reply := wire.NewResult(false, "not found")
		reply.ReplyTo(m)
		_ = wc.Send(context.Background(), reply)
	}()
	if found, _ := f.srv.CloseCircuit(ctx, "nope", "test"); found {
		t.Fatal("closing an unknown circuit reported found")
	}

	_ = wc.Close()
	for len(f.srv.Links()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the links of a disconnected router stay: %+v", f.srv.Links())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLinkListenerAddressChecked(t *testing.T) {
	for _, bad := range []string{"", "nohost", ":4000", "0.0.0.0:4000", "[::]:1", "h:0"} {
		if checkLinkAddress(bad) == nil {
			t.Errorf("link listener %q accepted", bad)
		}
	}
	if err := checkLinkAddress("router-b.example.com:4000"); err != nil {
		t.Errorf("good address refused: %v", err)
	}
}
