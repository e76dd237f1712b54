package routerctl

import (
	"context"
	"testing"

	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// caEvent returns the CA event of the next batch that has one.
func caEvent(t *testing.T, pushed chan *wire.Message) ctrlproto.Event {
	t.Helper()
	for {
		var ev ctrlproto.Events
		if err := ctrlproto.Decode(next(t, pushed, ctrlproto.TypeEvents).Body, &ev); err != nil {
			t.Fatal(err)
		}
		for _, e := range ev.Events {
			if e.CA != nil {
				return e
			}
		}
	}
}

func TestTrustedCAsArePushedAndRemoved(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	trusted := &store.CA{Meta: store.Meta{ID: "ca-trusted"}, Name: "partner", CertPEM: "trusted pem", IsVerified: true, IsAuthEnabled: true}
	unverified := &store.CA{Meta: store.Meta{ID: "ca-unverified"}, Name: "pending", CertPEM: "pending pem", IsAuthEnabled: true}
	authOff := &store.CA{Meta: store.Meta{ID: "ca-auth-off"}, Name: "enroll only", CertPEM: "enroll pem", IsVerified: true}
	for _, ca := range []*store.CA{trusted, unverified, authOff} {
		if _, err := f.st.Create(ctx, store.CAs, ca); err != nil {
			t.Fatal(err)
		}
	}
	_, pushed, reply, err := f.connect(t, f.cert, nil)
	if err != nil || !reply.ResultSuccess() {
		t.Fatalf("hello: %v %v", err, reply)
	}
	var sync ctrlproto.Sync
	if err := ctrlproto.Decode(next(t, pushed, ctrlproto.TypeSync).Body, &sync); err != nil {
		t.Fatal(err)
	}
	if len(sync.CAs) != 1 || sync.CAs[0] != (ctrlproto.CA{ID: "ca-trusted", Name: "partner", CertPEM: "trusted pem"}) {
		t.Fatalf("sync CAs = %+v, want only the verified CA enabled for authentication", sync.CAs)
	}

	// Verifying the pending CA makes it trusted: an upsert.
	if err := f.st.Update(ctx, store.CAs, "ca-unverified", func(r store.Record) error { r.(*store.CA).IsVerified = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if e := caEvent(t, pushed); e.Kind != ctrlproto.EventUpsert || e.CA.ID != "ca-unverified" || e.CA.CertPEM != "pending pem" {
		t.Fatalf("verifying a CA pushed %+v", e)
	}
	// Turning authentication off removes the trust: a delete.
	if err := f.st.Update(ctx, store.CAs, "ca-trusted", func(r store.Record) error { r.(*store.CA).IsAuthEnabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if e := caEvent(t, pushed); e.Kind != ctrlproto.EventDelete || e.CA.ID != "ca-trusted" {
		t.Fatalf("disabling authentication pushed %+v", e)
	}
	// Changes to CAs the router does not hold are not sent; deleting a trusted one is.
	if err := f.st.Update(ctx, store.CAs, "ca-auth-off", func(r store.Record) error { r.(*store.CA).Name = "renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Delete(ctx, store.CAs, "ca-unverified"); err != nil {
		t.Fatal(err)
	}
	if e := caEvent(t, pushed); e.Kind != ctrlproto.EventDelete || e.CA.ID != "ca-unverified" {
		t.Fatalf("deleting a trusted CA pushed %+v (a CA the router never held must not be sent)", e)
	}
}
