// Package sdk is the Go library applications embed to use an Ostium network.
// A Context, built from an enrolled identity, authenticates to the controller
// and gives the application standard net.Conn and net.Listener values:
//
//	id, _ := identity.Load("app.json")
//	ctx, _ := sdk.New(id, sdk.Options{})
//	defer ctx.Close()
//	conn, err := ctx.Dial(context.Background(), "db")
//
// It re-authenticates when its API session ends, caches sessions per service,
// picks the router with the lowest measured latency, re-binds listeners when
// routers come and go, and encrypts end to end for services that require it.
package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ostium-net/ostium/sdk/crypto"
	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/sdk/renew"
	"github.com/ostium-net/ostium/sdk/restapi/models"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Options configure a Context.
type Options struct {
	// Logger receives the Context's logs; nil discards them.
	Logger *slog.Logger
	// ConfigTypes are the config types to receive with services ("all" for every one).
	ConfigTypes []string
	// MFACode is asked for a TOTP code when the controller requires one.
	MFACode func(ctx context.Context) (string, error)
	// HTTPTimeout bounds each controller request (default 30 s).
	HTTPTimeout time.Duration
	// OnServiceEvent, when set, is told of services added, changed and
	// removed, polled every ServicePollInterval (default 10 s).
	OnServiceEvent      func(ServiceEvent)
	ServicePollInterval time.Duration
	// DisableRenewal turns off automatic certificate renewal (at 2/3 of the
	// certificate's lifetime, with a new key).
	DisableRenewal bool
	// OnRenewed is called with the identity after its certificate was
	// renewed, so the application can save it.
	OnRenewed func(*identity.Identity)
	// IdentityFile, when set, is the file the identity was loaded from: each
	// renewed identity is written back to it (atomically, keeping the file's
	// permissions) before OnRenewed, so that after a restart the renewed
	// certificate signs in; the controller no longer accepts the old one. A
	// failed write is logged as an error.
	IdentityFile string
	// Posture answers services' posture queries before sessions are
	// requested (HostPosture reports this machine); nil sends none. Its
	// facts are read again every PostureInterval (default
	// DefaultPostureInterval; negative: never) and those that changed are
	// sent, so that the controller follows the device's state.
	Posture         PostureProvider
	PostureInterval time.Duration
	// Control, when set, is called for every socket the Context opens (to
	// the controller and to routers) before it connects, as net.Dialer's
	// Control is. A transparent interceptor marks its own sockets with it so
	// that its rules never capture them.
	Control func(network, address string, c syscall.RawConn) error
}

// Service is a service the identity may use.
type Service struct {
	ID                 string
	Name               string
	EncryptionRequired bool
	Permissions        []string
	// Configs holds each config's data, keyed by config-type name.
	Configs map[string]map[string]any
	// PostureQueries are the checks the service's policies ask for.
	PostureQueries []PostureQuery
}

// CanDial reports the Dial permission.
func (s *Service) CanDial() bool { return slices.Contains(s.Permissions, "Dial") }

// CanBind reports the Bind permission.
func (s *Service) CanBind() bool { return slices.Contains(s.Permissions, "Bind") }

// Context is an authenticated use of an identity.
type Context struct {
	id   *identity.Identity
	opts Options
	log  *slog.Logger
	rest *restClient

	authMu     sync.Mutex // one authentication at a time
	mu         sync.Mutex
	apiSession *models.CurrentAPISessionDetail
	services   map[string]*Service // by name
	sessions   map[string]*models.SessionDetail
	sessionAt  map[string]time.Time            // when each cached session was made
	listed     map[string]map[string]time.Time // by session key: router address → last listed
	channels   map[string]*routerChannel       // by router address
	dialFailed map[string]failedDial           // by router address: a dial that failed just now
	listeners  map[*Listener]struct{}
	retired    []*routerChannel // channels of earlier API sessions, closed with the Context
	closed     bool

	cert     atomic.Pointer[tls.Certificate] // presented to controllers and routers
	bgOnce   sync.Once
	bgCancel context.CancelFunc
	renewer  *renew.Renewer

	// postureSent holds the posture responses the current API session was
	// sent, by query (and path), encoded.
	postureMu   sync.Mutex
	postureSent map[string]string
}

// New prepares a Context; it authenticates on first use (or Authenticate).
func New(id *identity.Identity, opts Options) (*Context, error) {
	if id == nil {
		return nil, errors.New("sdk: identity is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPTimeout == 0 {
		opts.HTTPTimeout = 30 * time.Second
	}
	base, err := clientAPIBase(id.ControllerURL)
	if err != nil {
		return nil, err
	}
	c := &Context{id: id, opts: opts, log: opts.Logger,
		services: map[string]*Service{}, sessions: map[string]*models.SessionDetail{}, sessionAt: map[string]time.Time{},
		listed:   map[string]map[string]time.Time{},
		channels: map[string]*routerChannel{}, dialFailed: map[string]failedDial{}, listeners: map[*Listener]struct{}{}}
	cert := id.Certificate()
	c.cert.Store(&cert)
	tr := &http.Transport{TLSClientConfig: c.clientTLS(), MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: opts.Control}).DialContext}
	c.rest = newRESTClient(base, &http.Client{Transport: tr, Timeout: opts.HTTPTimeout})
	return c, nil
}

// Identity is the identity this Context uses.
func (c *Context) Identity() *identity.Identity { return c.id }

// ControllerURLs lists the client API addresses of the controllers the
// Context may use, the one in use first: the identity's, and every other
// controller of its cluster learned at sign-in. REST calls move to the next
// one when the controller in use cannot be reached or cannot serve.
func (c *Context) ControllerURLs() []string { return c.rest.controllers() }

// APISessionToken is the token of the current API session, empty before
// the Context has authenticated. Callers may use it to make client API
// requests the sdk does not make itself, such as posture responses.
func (c *Context) APISessionToken() string { return c.rest.currentToken() }

var errClosed = errors.New("sdk: context is closed")

// Authenticate opens a new API session with the identity's certificate.
func (c *Context) Authenticate(ctx context.Context) error {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	return c.authenticateLocked(ctx)
}

func (c *Context) authenticateLocked(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	c.mu.Unlock()
	body := map[string]any{"configTypes": c.opts.ConfigTypes,
		"sdkInfo": map[string]string{"type": "ostium-go", "version": "0.0.0"}}
	c.rest.setToken("")
	var sess models.CurrentAPISessionDetail
	hdr, err := c.rest.call(ctx, http.MethodPost, "/authenticate?method=cert", body, &sess)
	if err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	token := hdr.Get("zt-session")
	if token == "" && sess.Token != nil {
		token = *sess.Token
	}
	if token == "" {
		return errors.New("authenticate: the controller returned no session token")
	}
	c.rest.setToken(token)
	c.forgetPosture()
	for _, q := range sess.AuthQueries {
		if q != nil && q.TypeID == "MFA" {
			if err := c.completeMFA(ctx); err != nil {
				return err
			}
		}
	}
	c.mu.Lock()
	c.apiSession = &sess
	c.sessions = map[string]*models.SessionDetail{} // sessions belonged to the old API session
	c.sessionAt = map[string]time.Time{}
	c.mu.Unlock()
	c.rest.learnControllers(ctx)
	c.startBackground()
	return nil
}

func (c *Context) completeMFA(ctx context.Context) error {
	if c.opts.MFACode == nil {
		return errors.New("authenticate: the controller requires an MFA code and no MFACode callback is set")
	}
	code, err := c.opts.MFACode(ctx)
	if err != nil {
		return fmt.Errorf("authenticate: %w", &mfaCodeError{err})
	}
	if _, err := c.rest.call(ctx, http.MethodPost, "/authenticate/mfa", map[string]string{"code": code}, nil); err != nil {
		return fmt.Errorf("authenticate: MFA: %w", err)
	}
	return nil
}

// mfaCodeError is a failure of the MFACode callback. The code's source
// failed, not the controller: whatever it wraps (the end of a closed input,
// say), it is never IsUnreachable, so AuthenticateWait does not retry it.
type mfaCodeError struct{ err error }

func (e *mfaCodeError) Error() string { return "MFA code: " + e.err.Error() }
func (e *mfaCodeError) Unwrap() error { return e.err }

func (c *Context) ensureAuthenticated(ctx context.Context) error {
	c.mu.Lock()
	ok := c.apiSession != nil
	c.mu.Unlock()
	if ok {
		return nil
	}
	return c.Authenticate(ctx)
}

// call runs a REST call, re-authenticating once when the API session is gone.
func (c *Context) call(ctx context.Context, method, path string, body, out any) error {
	if err := c.ensureAuthenticated(ctx); err != nil {
		return err
	}
	before := c.rest.currentToken()
	_, err := c.rest.call(ctx, method, path, body, out)
	if !isUnauthorized(err) {
		return err
	}
	c.authMu.Lock()
	if c.rest.currentToken() == before {
		if aerr := c.authenticateLocked(ctx); aerr != nil {
			c.authMu.Unlock()
			return aerr
		}
	}
	c.authMu.Unlock()
	_, err = c.rest.call(ctx, method, path, body, out)
	return err
}

// Services lists the services this identity may use.
func (c *Context) Services(ctx context.Context) ([]*Service, error) {
	var out []*Service
	for offset := int64(0); ; {
		var page []*models.ServiceDetail
		q := url.Values{"limit": {"500"}, "offset": {fmt.Sprint(offset)}}
		for _, ct := range c.opts.ConfigTypes {
			q.Add("configTypes", ct)
		}
		if err := c.call(ctx, http.MethodGet, "/services?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		for _, d := range page {
			out = append(out, serviceOf(d))
		}
		if len(page) < 500 {
			break
		}
		offset += int64(len(page))
	}
	c.mu.Lock()
	c.services = map[string]*Service{}
	for _, s := range out {
		c.services[s.Name] = s
	}
	c.mu.Unlock()
	return out, nil
}

func serviceOf(d *models.ServiceDetail) *Service {
	s := &Service{Configs: map[string]map[string]any{}}
	if d.ID != nil {
		s.ID = *d.ID
	}
	if d.Name != nil {
		s.Name = *d.Name
	}
	if d.EncryptionRequired != nil {
		s.EncryptionRequired = *d.EncryptionRequired
	}
	for _, p := range d.Permissions {
		s.Permissions = append(s.Permissions, string(p))
	}
	for k, v := range d.Config {
		s.Configs[k] = v
	}
	s.PostureQueries = postureQueriesOf(d)
	return s
}

// service finds a service by name, refreshing the list when unknown.
func (c *Context) service(ctx context.Context, name string) (*Service, error) {
	c.mu.Lock()
	s := c.services[name]
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	if _, err := c.Services(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	s = c.services[name]
	c.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("sdk: service %q is not available to this identity", name)
	}
	return s, nil
}

// session returns a Dial or Bind session for a service, creating one.
func (c *Context) session(ctx context.Context, svc *Service, typ string, fresh bool) (*models.SessionDetail, error) {
	key := typ + "/" + svc.ID
	c.mu.Lock()
	s := c.sessions[key]
	c.mu.Unlock()
	if s != nil && !fresh {
		return s, nil
	}
	if err := c.answerPosture(ctx, svc); err != nil {
		c.log.Debug("posture responses", "service", svc.Name, "err", err)
	}
	var created models.SessionDetail
	err := c.call(ctx, http.MethodPost, "/sessions", map[string]string{"serviceId": svc.ID, "type": typ}, &created)
	if isInvalidPosture(err) && c.opts.Posture != nil {
		// The queries may have changed since the service list: refresh, answer, retry once.
		if _, lerr := c.Services(ctx); lerr == nil {
			c.mu.Lock()
			if fresh := c.services[svc.Name]; fresh != nil {
				svc = fresh
			}
			c.mu.Unlock()
			_ = c.answerPosture(ctx, svc)
			err = c.call(ctx, http.MethodPost, "/sessions", map[string]string{"serviceId": svc.ID, "type": typ}, &created)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create %s session for %s: %w", typ, svc.Name, err)
	}
	c.mu.Lock()
	c.sessions[key] = &created
	c.sessionAt[key] = time.Now()
	c.rememberRouters(key, &created)
	c.mu.Unlock()
	return &created, nil
}

// cachedSession returns the session of a service held now, nil when none is.
func (c *Context) cachedSession(svc *Service, typ string) *models.SessionDetail {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[typ+"/"+svc.ID]
}

// sessionOlderThan reports whether the cached session of a service was made more than age
// ago (or is not cached).
func (c *Context) sessionOlderThan(svc *Service, typ string, age time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.sessionAt[typ+"/"+svc.ID]
	return !ok || time.Since(at) > age
}

// dialFailedMemory is how long a router that could not be reached is not dialed again: the
// listeners of a Context probing the same router share one dial.
const dialFailedMemory = 200 * time.Millisecond

// failedDial is a dial of a router that failed.
type failedDial struct {
	at  time.Time
	err error
}

// channel returns a connected channel to a router, dialing it when needed.
func (c *Context) channel(ctx context.Context, addr string) (*routerChannel, error) {
	c.mu.Lock()
	ch := c.channels[addr]
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	token := c.rest.currentToken()
	if ch != nil && !ch.isClosed() && ch.token == token {
		if ch.draining.Load() {
			return nil, &outOfReachError{fmt.Errorf("router %s: %w", addr, errRouterShuttingDown)}
		}
		return ch, nil
	}
	// A channel opened under an earlier API session keeps serving the
	// connections and listeners it has; new ones go over a channel of the
	// current API session (routers accept sessions of the channel's own).
	c.mu.Lock()
	if f, ok := c.dialFailed[addr]; ok && time.Since(f.at) < dialFailedMemory {
		c.mu.Unlock()
		return nil, f.err
	}
	c.mu.Unlock()
	ch, err := dialChannel(ctx, addr, c.clientTLS(), c.opts.Control, c.id.Chain[0].Subject.CommonName, token, c.log)
	if err != nil {
		if outOfReach(err) {
			c.mu.Lock()
			c.dialFailed[addr] = failedDial{at: time.Now(), err: err}
			c.mu.Unlock()
		}
		return nil, err
	}
	c.mu.Lock()
	delete(c.dialFailed, addr)
	if cur := c.channels[addr]; cur != nil && !cur.isClosed() && cur.token == token {
		c.mu.Unlock()
		ch.close()
		return cur, nil
	}
	if old := c.channels[addr]; old != nil {
		if old.idle() {
			go old.close()
		} else {
			c.retired = append(c.retired, old)
		}
	}
	c.channels[addr] = ch
	c.mu.Unlock()
	return ch, nil
}

// routerMemory is how long a router stays a candidate for a service after a session of the
// service last listed it. Sessions list only the routers the controller sees online, so a
// router that restarts is missing from sessions made while it was away: remembered, it is
// used again as soon as it accepts connections, before the controller lists it again.
const routerMemory = time.Hour

// rememberRouters notes the routers a new session of key lists; the caller holds mu.
func (c *Context) rememberRouters(key string, s *models.SessionDetail) {
	now := time.Now()
	seen := c.listed[key]
	if seen == nil {
		seen = map[string]time.Time{}
		c.listed[key] = seen
	}
	for _, a := range addrsOf(s) {
		seen[a] = now
	}
	for a, at := range seen {
		if now.Sub(at) > routerMemory {
			delete(seen, a)
		}
	}
}

// addrsOf lists the tls addresses of a session's routers.
func addrsOf(s *models.SessionDetail) []string {
	var addrs []string
	for _, r := range s.EdgeRouters {
		if r == nil {
			continue
		}
		u := r.Urls["tls"]
		if u == "" {
			u = r.SupportedProtocols["tls"]
		}
		if a, err := routerAddr(u); err == nil && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// routersOf lists the routers to use for a session of svc: the session's own and those an
// earlier session of the service listed within routerMemory, fastest first by measured
// latency (routers without a usable channel last).
func (c *Context) routersOf(svc *Service, typ string, s *models.SessionDetail) []string {
	addrs := addrsOf(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for a, at := range c.listed[typ+"/"+svc.ID] {
		if now.Sub(at) <= routerMemory && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	lat := func(a string) time.Duration {
		if ch := c.channels[a]; ch != nil && ch.usable() {
			return time.Duration(ch.latency.Load())
		}
		return time.Hour
	}
	sort.SliceStable(addrs, func(i, j int) bool { return lat(addrs[i]) < lat(addrs[j]) })
	return addrs
}

// DialOptions tune a Dial.
type DialOptions struct {
	// TerminatorIdentity picks a specific terminator (an addressable host).
	TerminatorIdentity string
	// AppData is passed to the hosting side.
	AppData []byte
	// Timeout bounds the dial (default 15 s).
	Timeout time.Duration
}

// Dial connects to a service.
func (c *Context) Dial(ctx context.Context, service string) (net.Conn, error) {
	return c.DialWithOptions(ctx, service, nil)
}

// DialWithOptions connects to a service with options.
func (c *Context) DialWithOptions(ctx context.Context, service string, opts *DialOptions) (net.Conn, error) {
	// The caller's options are read, never written: one set may serve dials
	// running at once (a tunneler's intercept does so).
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Second
	}
	opts = &o
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	svc, err := c.service(ctx, service)
	if err != nil {
		return nil, err
	}
	sess, err := c.session(ctx, svc, "Dial", false)
	if err != nil {
		return nil, err
	}
	conn, refused, lastErr := c.dialAny(ctx, svc, sess, opts)
	if conn != nil || hostRefused(lastErr) {
		return conn, lastErr
	}
	// A new session helps when a router refused this one, or when the session's routers are
	// all out of reach and it is old enough for the network to have changed since; asking
	// for one at every failed dial while a router restarts would only load the controller.
	if !refused && !c.sessionOlderThan(svc, "Dial", dialSessionRefresh) {
		return nil, lastErr
	}
	fresh, err := c.session(ctx, svc, "Dial", true)
	if err != nil {
		c.log.Debug("new dial session", "service", svc.Name, "err", err)
		return nil, lastErr
	}
	if conn, _, err := c.dialAny(ctx, svc, fresh, opts); conn != nil {
		return conn, nil
	} else if err != nil {
		lastErr = err
	}
	return nil, lastErr
}

// dialSessionRefresh is the age past which a dial session whose routers are all out of reach
// is replaced by a new one (whose routers may differ).
const dialSessionRefresh = 10 * time.Second

// dialAny dials through the session's routers, fastest first, until one connects. refused
// reports a router that refused the session (which a new one may overcome).
func (c *Context) dialAny(ctx context.Context, svc *Service, sess *models.SessionDetail, opts *DialOptions) (net.Conn, bool, error) {
	var lastErr error
	refused := false
	for _, addr := range c.routersOf(svc, "Dial", sess) {
		conn, err := c.dialVia(ctx, addr, svc, sess, opts)
		if err == nil {
			return conn, false, nil
		}
		if hostRefused(err) {
			// Another router reaches the same host.
			return nil, false, err
		}
		lastErr = err
		if sessionRefused(err) {
			refused = true
		}
		c.log.Debug("dial through router failed", "router", addr, "service", svc.Name, "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("sdk: no edge router to reach %s", svc.Name)
	}
	return nil, refused, lastErr
}

// DialError is a refusal from the router, with its error code.
type DialError struct {
	Code    uint32
	Message string
}

func (e *DialError) Error() string {
	if e.Code == 0 || e.HostRefused() {
		return e.Message
	}
	return fmt.Sprintf("dial refused (code %d): %s", e.Code, e.Message)
}

// hostRefused reports a DialError whose refusal came from the host.
func hostRefused(err error) bool {
	var de *DialError
	return errors.As(err, &de) && de.HostRefused()
}

// HostRefused reports a dial the hosting application (or tunneler) refused,
// as opposed to one the router refused: trying again through another router
// reaches the same host.
func (e *DialError) HostRefused() bool {
	return strings.HasPrefix(e.Message, "host refused the dial")
}

func (c *Context) dialVia(ctx context.Context, addr string, svc *Service, sess *models.SessionDetail, opts *DialOptions) (net.Conn, error) {
	ch, err := c.channel(ctx, addr)
	if err != nil {
		return nil, err
	}
	id := ch.nextID.Add(1)
	local := Addr{Service: svc.Name, Identity: c.id.Chain[0].Subject.CommonName}
	cn := newConn(ch, id, local, Addr{Service: svc.Name})
	msg := wire.NewConnect([]byte(*sess.Token), id)
	var pub, priv [32]byte
	if svc.EncryptionRequired {
		if pub, priv, err = crypto.GenerateKeyPair(); err != nil {
			return nil, err
		}
		msg.PutPublicKey(pub[:])
		cn.expectEncryption()
	}
	if opts.TerminatorIdentity != "" {
		msg.Headers.PutString(wire.HeaderTerminatorIdentity, opts.TerminatorIdentity)
	}
	if opts.AppData != nil {
		msg.Headers.PutBytes(wire.HeaderAppData, opts.AppData)
	}
	msg.Headers.PutString(wire.HeaderCallerID, local.Identity)
	ch.addConn(cn)
	reply, err := ch.wc.Request(ctx, msg)
	if err != nil {
		ch.removeConn(id)
		return nil, &outOfReachError{fmt.Errorf("connect through %s: %w", addr, err)}
	}
	if reply.ContentType != wire.ContentTypeStateConnected {
		ch.removeConn(id)
		code, _ := reply.ErrorCode()
		return nil, ch.refusedFor(code, string(reply.Body))
	}
	if svc.EncryptionRequired {
		hostPub, ok := reply.Headers.GetBytes(wire.HeaderPublicKey)
		if !ok || len(hostPub) != 32 {
			_ = cn.Close()
			return nil, errors.New("sdk: the host sent no public key for an encrypted service")
		}
		rx, tx, err := crypto.ClientSessionKeys(pub, priv, [32]byte(hostPub))
		if err != nil {
			_ = cn.Close()
			return nil, err
		}
		if err := cn.setKeys(rx, tx); err != nil {
			_ = cn.Close()
			return nil, err
		}
		if err := cn.sendHeader(); err != nil {
			_ = cn.Close()
			return nil, err
		}
	}
	return cn, nil
}

// Close ends every listener, connection and channel, and the API session.
func (c *Context) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.bgCancel != nil {
		c.bgCancel()
	}
	listeners := make([]*Listener, 0, len(c.listeners))
	for l := range c.listeners {
		listeners = append(listeners, l)
	}
	channels := c.channels
	c.channels = map[string]*routerChannel{}
	retired := c.retired
	c.retired = nil
	c.mu.Unlock()
	for _, ch := range retired {
		ch.close()
	}
	for _, l := range listeners {
		_ = l.Close()
	}
	for _, ch := range channels {
		ch.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.rest.currentToken() != "" {
		_, _ = c.rest.call(ctx, http.MethodDelete, "/current-api-session", nil, nil)
	}
	c.rest.http.CloseIdleConnections()
	return nil
}
