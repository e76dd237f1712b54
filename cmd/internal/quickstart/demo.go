package quickstart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/enroll"
	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/tunnel"
)

// Names of the demo's policies and config.
const (
	allRoutersPolicy  = "quickstart-all-routers"
	allServicesPolicy = "quickstart-all-services"
	echoHostConfig    = "echo-host"
	echoBindPolicy    = "echo-bind"
	echoDialPolicy    = "echo-dial"
)

// echoServer is a local TCP server that writes back what it reads; the
// tunneler forwards the service's connections to it.
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startEchoServer() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("quickstart: echo server: %w", err)
	}
	s := &echoServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return s, nil
}

func (s *echoServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *echoServer) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// ensureDemo creates the policies that let every identity use the router,
// the echo service and who may bind and dial it. The host.v1 config points
// at port, which changes from run to run.
func ensureDemo(ctx context.Context, admin *adminClient, port int) (serviceID string, err error) {
	if _, err := admin.ensure(ctx, "edge-router-policies", allRoutersPolicy, map[string]any{"semantic": "AnyOf",
		"identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}}); err != nil {
		return "", err
	}
	if _, err := admin.ensure(ctx, "service-edge-router-policies", allServicesPolicy, map[string]any{"semantic": "AnyOf",
		"serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}}); err != nil {
		return "", err
	}
	hostTypeID, err := admin.idByName(ctx, "config-types", "host.v1")
	if err != nil || hostTypeID == "" {
		return "", fmt.Errorf("quickstart: find the host.v1 config type: %w", errors.Join(err, errors.New("not found")))
	}
	data := map[string]any{"protocol": "tcp", "address": "127.0.0.1", "port": port}
	cfgID, err := admin.ensure(ctx, "configs", echoHostConfig, map[string]any{"configTypeId": hostTypeID, "data": data})
	if err != nil {
		return "", err
	}
	if err := admin.do(ctx, "PATCH", "/configs/"+cfgID, map[string]any{"data": data}, nil); err != nil {
		return "", fmt.Errorf("quickstart: point the echo config at port %d: %w", port, err)
	}
	serviceID, err = admin.ensure(ctx, "services", EchoService, map[string]any{"encryptionRequired": true,
		"configs": []string{cfgID}, "roleAttributes": []string{"demo"}})
	if err != nil {
		return "", err
	}
	if _, err := admin.ensure(ctx, "service-policies", echoBindPolicy, map[string]any{"type": "Bind", "semantic": "AnyOf",
		"identityRoles": []string{"#echo-host"}, "serviceRoles": []string{"@" + serviceID}}); err != nil {
		return "", err
	}
	if _, err := admin.ensure(ctx, "service-policies", echoDialPolicy, map[string]any{"type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"#echo-client"}, "serviceRoles": []string{"@" + serviceID}}); err != nil {
		return "", err
	}
	return serviceID, nil
}

// enrollNew (re)creates the named identity with an ott enrollment and
// returns its JWT.
func enrollmentJWT(ctx context.Context, admin *adminClient, name string, roles []string) (string, error) {
	id, err := admin.recreate(ctx, "identities", name, map[string]any{"type": "Device", "isAdmin": false,
		"roleAttributes": roles, "enrollment": map[string]any{"ott": true}})
	if err != nil {
		return "", err
	}
	var detail struct {
		Enrollment struct {
			Ott struct {
				JWT string `json:"jwt"`
			} `json:"ott"`
		} `json:"enrollment"`
	}
	if err := admin.do(ctx, "GET", "/identities/"+id, nil, &detail); err != nil {
		return "", fmt.Errorf("quickstart: read identity %s: %w", name, err)
	}
	if detail.Enrollment.Ott.JWT == "" {
		return "", fmt.Errorf("quickstart: identity %s has no enrollment JWT", name)
	}
	return detail.Enrollment.Ott.JWT, nil
}

// echoHost is the in-process tunneler hosting the echo service.
type echoHost struct {
	server *echoServer
	ctx    *sdk.Context
	cancel context.CancelFunc
	done   chan struct{}
	tun    *tunnel.Tunneler
}

// loadOrEnrollHost loads the hosting identity from path, enrolling a new
// one when the file is missing.
// The in-process tunneler always talks to this run's controller, wherever
// it listens now.
func loadOrEnrollHost(ctx context.Context, admin *adminClient, path, apiURL string) (*identity.Identity, error) {
	if id, err := identity.Load(path); err == nil {
		id.ControllerURL, id.Controllers = apiURL, []string{apiURL}
		return id, nil
	} else if _, statErr := os.Stat(path); statErr == nil {
		return nil, err
	}
	jwt, err := enrollmentJWT(ctx, admin, HostIdentity, []string{"echo-host"})
	if err != nil {
		return nil, err
	}
	res, err := enroll.Enroll(ctx, jwt, enroll.Options{})
	if err != nil {
		return nil, fmt.Errorf("quickstart: enroll %s: %w", HostIdentity, err)
	}
	if err := res.Identity.Save(path); err != nil {
		return nil, fmt.Errorf("quickstart: store %s: %w", HostIdentity, err)
	}
	return res.Identity, nil
}

// startEchoHost runs the tunneler in host mode for the echo service and
// waits until the service has a terminator. The identity's renewed
// certificates are written back to idFile, so that the next run signs in.
func startEchoHost(ctx context.Context, admin *adminClient, id *identity.Identity, idFile string, server *echoServer, serviceID string, log *slog.Logger) (*echoHost, error) {
	before, err := terminatorsOf(ctx, admin, serviceID)
	if err != nil {
		return nil, fmt.Errorf("quickstart: list terminators: %w", err)
	}
	c, err := sdk.New(id, sdk.Options{Logger: log, ConfigTypes: tunnel.ConfigTypes, IdentityFile: idFile})
	if err != nil {
		return nil, fmt.Errorf("quickstart: %w", err)
	}
	tun := tunnel.New(c, tunnel.Options{Poll: 2 * time.Second, Identity: HostIdentity, DisableIntercept: true, Logger: log})
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &echoHost{server: server, ctx: c, cancel: cancel, done: make(chan struct{}), tun: tun}
	go func() {
		defer close(h.done)
		_ = tun.Run(runCtx)
	}()
	if err := h.waitHosted(ctx, admin, serviceID, before); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

// terminatorsOf lists the ids of the service's terminators.
func terminatorsOf(ctx context.Context, admin *adminClient, serviceID string) (map[string]bool, error) {
	var terms []struct {
		ID        string `json:"id"`
		ServiceID string `json:"serviceId"`
	}
	if err := admin.do(ctx, "GET", "/terminators?limit=500", nil, &terms); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, t := range terms {
		if t.ServiceID == serviceID {
			out[t.ID] = true
		}
	}
	return out, nil
}

// waitHosted waits until the tunneler hosts the service and a terminator
// that was not there before (one of an earlier run) exists.
func (h *echoHost) waitHosted(ctx context.Context, admin *adminClient, serviceID string, before map[string]bool) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		if slices.Contains(h.tun.Stats().Hosted, EchoService) {
			now, err := terminatorsOf(ctx, admin, serviceID)
			if err == nil {
				for id := range now {
					if !before[id] {
						return nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("quickstart: the %s service was not hosted in time: %w", EchoService, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (h *echoHost) stop() {
	h.cancel()
	<-h.done
	_ = h.ctx.Close()
}

// ensureClient writes the demo client's enrollment JWT unless the client
// was already given one (jwtPath) or enrolled (idPath).
func ensureClient(ctx context.Context, admin *adminClient, jwtPath, idPath string) error {
	for _, p := range []string{jwtPath, idPath} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	jwt, err := enrollmentJWT(ctx, admin, ClientIdentity, []string{"echo-client"})
	if err != nil {
		return err
	}
	if err := os.WriteFile(jwtPath, []byte(jwt+"\n"), 0o600); err != nil {
		return fmt.Errorf("quickstart: write %s: %w", jwtPath, err)
	}
	return nil
}
