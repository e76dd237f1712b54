package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ostium-net/ostium/cmd/internal/cli"
	"github.com/ostium-net/ostium/cmd/internal/loadgen"
	"github.com/ostium-net/ostium/cmd/internal/quickstart"
	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/enroll"
	"github.com/ostium-net/ostium/sdk/identity"
)

// benchService is the service the report's own echo is bound to: not
// end-to-end encrypted, so the SDK path compares with the relay chain
// doing the same cryptographic work (TLS on each hop).
const benchService = "bench"

// network is a local network for the report: a quickstart (controller,
// router, the demo "echo" service behind a host tunneler) plus a bench
// service whose echo is bound with the SDK in this process.
type network struct {
	info   quickstart.Info
	admin  *cli.Client
	client *sdk.Context // dials bench
	demo   *sdk.Context // the quickstart's client: dials echo
	host   *sdk.Context // binds bench
	// clientID signs in to the controller in the controller scenarios.
	clientID *identity.Identity
	adminTok string
	stop     func()
}

// startNetwork runs a quickstart in home on free ports and prepares the
// bench service and its identities.
func startNetwork(ctx context.Context, home string, log *slog.Logger) (*network, error) {
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan quickstart.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- quickstart.Run(ctx, quickstart.Options{Home: home, APIAddr: "127.0.0.1:0", EdgeAddr: "127.0.0.1:0",
			RouterCtlAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0", Log: log, Ready: func(i quickstart.Info) { ready <- i }})
	}()
	n := &network{stop: func() { cancel(); <-done }}
	select {
	case n.info = <-ready:
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("quickstart: %w", errors.Join(err, errors.New("stopped before it was ready")))
	case <-time.After(2 * time.Minute):
		n.stop()
		return nil, errors.New("quickstart: not ready after 2 minutes")
	}
	if err := n.prepare(ctx); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *network) prepare(ctx context.Context) error {
	caPEM, err := os.ReadFile(n.info.CAFile)
	if err != nil {
		return fmt.Errorf("controller CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	n.admin = cli.NewClient(n.info.APIURL, "", pool)
	env, err := n.admin.Do(ctx, "POST", "/authenticate", map[string][]string{"method": {"password"}},
		map[string]string{"username": n.info.AdminUsername, "password": n.info.AdminPassword})
	if err != nil {
		return fmt.Errorf("sign in as the admin: %w", err)
	}
	var sess struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(env.Data, &sess); err != nil || sess.Token == "" {
		return fmt.Errorf("sign in as the admin: no token: %w", err)
	}
	n.admin.Token, n.adminTok = sess.Token, sess.Token

	svc, err := n.create(ctx, "/services", map[string]any{"name": benchService, "encryptionRequired": false})
	if err != nil {
		return err
	}
	for _, typ := range []string{"Dial", "Bind"} {
		if _, err := n.create(ctx, "/service-policies", map[string]any{"name": benchService + "-" + typ, "type": typ, "semantic": "AnyOf",
			"identityRoles": []string{"#" + benchService + "-" + typ}, "serviceRoles": []string{"@" + svc}}); err != nil {
			return err
		}
	}
	if n.clientID, err = n.enrollNew(ctx, "bench-client", benchService+"-Dial"); err != nil {
		return err
	}
	hostID, err := n.enrollNew(ctx, "bench-host", benchService+"-Bind")
	if err != nil {
		return err
	}
	jwt, err := os.ReadFile(n.info.ClientJWT)
	if err != nil {
		return fmt.Errorf("the demo client's JWT: %w", err)
	}
	demoID, err := enroll.Enroll(ctx, string(jwt), enroll.Options{})
	if err != nil {
		return fmt.Errorf("enroll the demo client: %w", err)
	}
	quiet := sdk.Options{Logger: slog.New(slog.DiscardHandler)}
	for _, c := range []struct {
		ctx **sdk.Context
		id  *identity.Identity
	}{{&n.client, n.clientID}, {&n.host, hostID}, {&n.demo, demoID.Identity}} {
		if *c.ctx, err = sdk.New(c.id, quiet); err != nil {
			return fmt.Errorf("sdk: %w", err)
		}
	}
	return nil
}

func (n *network) create(ctx context.Context, path string, body any) (string, error) {
	env, err := n.admin.Do(ctx, "POST", path, nil, body)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(env.Data, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("create %s: no id in the answer", path)
	}
	return out.ID, nil
}

// enrollNew creates an identity with an ott enrollment and enrolls it.
func (n *network) enrollNew(ctx context.Context, name, role string) (*identity.Identity, error) {
	id, err := n.create(ctx, "/identities", map[string]any{"name": name, "type": "Device", "isAdmin": false,
		"roleAttributes": []string{role}, "enrollment": map[string]any{"ott": true}})
	if err != nil {
		return nil, err
	}
	env, err := n.admin.Do(ctx, "GET", "/identities/"+id, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", name, err)
	}
	var detail struct {
		Enrollment struct {
			Ott struct {
				JWT string `json:"jwt"`
			} `json:"ott"`
		} `json:"enrollment"`
	}
	if err := json.Unmarshal(env.Data, &detail); err != nil || detail.Enrollment.Ott.JWT == "" {
		return nil, fmt.Errorf("identity %s: no enrollment JWT", name)
	}
	res, err := enroll.Enroll(ctx, detail.Enrollment.Ott.JWT, enroll.Options{})
	if err != nil {
		return nil, fmt.Errorf("enroll %s: %w", name, err)
	}
	return res.Identity, nil
}

// identityCount is how many identities the controller holds.
func (n *network) identityCount(ctx context.Context) (int, error) {
	env, err := n.admin.Do(ctx, "GET", "/identities", map[string][]string{"limit": {"1"}}, nil)
	if err != nil {
		return 0, fmt.Errorf("count identities: %w", err)
	}
	if env.Meta.Pagination == nil {
		return 0, errors.New("count identities: the answer has no pagination")
	}
	return int(env.Meta.Pagination.TotalCount), nil
}

// growIdentities creates identities through the API with clients at once
// until the controller holds at least size.
func (n *network) growIdentities(ctx context.Context, ctl loadgen.Controller, size, clients int) error {
	have, err := n.identityCount(ctx)
	if err != nil {
		return err
	}
	if missing := size - have; missing > 0 {
		if r := ctl.RunN(ctx, "grow", clients, missing, ctl.Create); r.Errors > 0 {
			return fmt.Errorf("grow to %d identities: %d creates failed", size, r.Errors)
		}
	}
	return nil
}

func (n *network) close() {
	for _, c := range []*sdk.Context{n.client, n.demo, n.host} {
		if c != nil {
			_ = c.Close()
		}
	}
	n.stop()
}
