package sdk

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// PostureProvider answers the posture queries of services: facts about the
// device the controller checks before it gives out sessions.
type PostureProvider interface {
	// OperatingSystem is the OS type as the controller names it (Windows,
	// WindowsServer, Linux, macOS, iOS, Android), its version and build.
	OperatingSystem() (osType, version, build string)
	// MACAddresses of the device's interfaces.
	MACAddresses() []string
	// Domain is the Windows domain the device belongs to, or "".
	Domain() string
	// Process reports whether a process runs from path, the hex SHA-512 of
	// its binary and the fingerprints of its signers.
	Process(path string) (running bool, sha512Hex string, signerFingerprints []string)
}

// PostureQuery is one check a service's policy asks for.
type PostureQuery struct {
	ID        string
	Type      string // OS, PROCESS, PROCESS_MULTI, DOMAIN, MAC, MFA
	IsPassing bool
	// Paths of the processes a PROCESS or PROCESS_MULTI query looks at.
	Paths []string
}

func postureQueriesOf(d *models.ServiceDetail) []PostureQuery {
	var out []PostureQuery
	for _, pq := range d.PostureQueries {
		if pq == nil {
			continue
		}
		for _, q := range pq.PostureQueries {
			if q == nil || q.ID == nil {
				continue
			}
			item := PostureQuery{ID: *q.ID, IsPassing: q.IsPassing != nil && *q.IsPassing}
			if q.QueryType != nil {
				item.Type = string(*q.QueryType)
			}
			if q.Process != nil {
				item.Paths = append(item.Paths, q.Process.Path)
			}
			for _, p := range q.Processes {
				if p != nil {
					item.Paths = append(item.Paths, p.Path)
				}
			}
			out = append(out, item)
		}
	}
	return out
}

// DefaultPostureInterval is how often the facts the provider reports are
// read again and the changed ones sent, unless Options.PostureInterval says
// otherwise.
const DefaultPostureInterval = 20 * time.Second

// postureResponses computes the provider's answers to queries, keyed by
// query id (and process path); with onlyFailing, passing queries are left
// out.
func postureResponses(p PostureProvider, queries []PostureQuery, onlyFailing bool) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, q := range queries {
		if onlyFailing && q.IsPassing {
			continue
		}
		switch q.Type {
		case "OS":
			if _, done := out[q.ID]; !done {
				typ, version, build := p.OperatingSystem()
				out[q.ID] = map[string]any{"id": q.ID, "typeId": "OS", "type": typ, "version": version, "build": build}
			}
		case "MAC":
			if _, done := out[q.ID]; !done {
				out[q.ID] = map[string]any{"id": q.ID, "typeId": "MAC", "macAddresses": nonNil(p.MACAddresses())}
			}
		case "DOMAIN":
			if _, done := out[q.ID]; !done {
				out[q.ID] = map[string]any{"id": q.ID, "typeId": "DOMAIN", "domain": p.Domain()}
			}
		case "PROCESS", "PROCESS_MULTI":
			for _, path := range q.Paths {
				key := q.ID + "|" + path
				if _, done := out[key]; done {
					continue
				}
				running, hash, signers := p.Process(path)
				out[key] = map[string]any{"id": q.ID, "typeId": "PROCESS", "path": path,
					"isRunning": running, "hash": hash, "signerFingerprints": nonNil(signers)}
			}
		}
	}
	return out
}

// answerPosture sends the provider's facts for the service's failing queries.
func (c *Context) answerPosture(ctx context.Context, svc *Service) error {
	if c.opts.Posture == nil {
		return nil
	}
	return c.sendPosture(ctx, postureResponses(c.opts.Posture, svc.PostureQueries, true), false)
}

// sendPosture posts the responses (with onlyChanged, those that differ from
// what this API session was last told) and remembers them as sent.
func (c *Context) sendPosture(ctx context.Context, responses map[string]map[string]any, onlyChanged bool) error {
	encoded := make(map[string]string, len(responses))
	var body []map[string]any
	c.postureMu.Lock()
	for key, r := range responses {
		raw, _ := json.Marshal(r)
		encoded[key] = string(raw)
		if onlyChanged && c.postureSent[key] == string(raw) {
			continue
		}
		body = append(body, r)
	}
	c.postureMu.Unlock()
	if len(body) == 0 {
		return nil
	}
	sort.Slice(body, func(i, j int) bool {
		return fmt.Sprint(body[i]["id"], body[i]["path"]) < fmt.Sprint(body[j]["id"], body[j]["path"])
	})
	if err := c.call(ctx, http.MethodPost, "/posture-response-bulk", body, nil); err != nil {
		return err
	}
	c.postureMu.Lock()
	if c.postureSent == nil {
		c.postureSent = map[string]string{}
	}
	for key, raw := range encoded {
		c.postureSent[key] = raw
	}
	c.postureMu.Unlock()
	return nil
}

// forgetPosture is called for a new API session, which holds no posture
// data yet.
func (c *Context) forgetPosture() {
	c.postureMu.Lock()
	c.postureSent = nil
	c.postureMu.Unlock()
}

// watchPosture reads the provider's facts for every query of the services
// known, every PostureInterval, and sends those that changed since they
// were last sent, so that the controller sees a change (a process stopped,
// another network) without waiting for the next session: it then ends the
// sessions that no longer pass, and they pass again once the facts do.
func (c *Context) watchPosture(ctx context.Context) {
	interval := c.opts.PostureInterval
	if c.opts.Posture == nil || interval < 0 {
		return
	}
	if interval == 0 {
		interval = DefaultPostureInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var queries []PostureQuery
		c.mu.Lock()
		for _, svc := range c.services {
			queries = append(queries, svc.PostureQueries...)
		}
		c.mu.Unlock()
		if len(queries) == 0 {
			continue
		}
		if err := c.sendPosture(ctx, postureResponses(c.opts.Posture, queries, false), true); err != nil {
			c.log.Debug("posture responses", "err", err)
		}
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func isInvalidPosture(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == "INVALID_POSTURE"
}

// HostPosture reports the facts of the machine the program runs on.
type HostPosture struct{}

// OperatingSystem implements PostureProvider.
func (HostPosture) OperatingSystem() (string, string, string) {
	switch runtime.GOOS {
	case "linux":
		release, _ := os.ReadFile("/proc/sys/kernel/osrelease")
		version := strings.TrimSpace(string(release))
		if i := strings.IndexAny(version, "-+"); i > 0 {
			version = version[:i]
		}
		return "Linux", version, ""
	case "darwin":
		return "macOS", "", ""
	case "windows":
		return "Windows", "", ""
	case "android":
		return "Android", "", ""
	case "ios":
		return "iOS", "", ""
	}
	return runtime.GOOS, "", ""
}

// MACAddresses implements PostureProvider.
func (HostPosture) MACAddresses() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, i := range ifs {
		if len(i.HardwareAddr) > 0 {
			out = append(out, i.HardwareAddr.String())
		}
	}
	return out
}

// Domain implements PostureProvider: on Windows the domain the user signed
// in to (USERDNSDOMAIN, else USERDOMAIN unless it is the machine's own
// name); elsewhere the kernel's domain name on Linux when one is set, else
// the domain of the host name when it is fully qualified (a machine joined
// to a directory is usually named so); "" when the machine has none.
func (HostPosture) Domain() string {
	if runtime.GOOS == "windows" {
		if d := os.Getenv("USERDNSDOMAIN"); d != "" {
			return d
		}
		if d := os.Getenv("USERDOMAIN"); d != "" && !strings.EqualFold(d, os.Getenv("COMPUTERNAME")) {
			return d
		}
		return ""
	}
	var kernel []byte
	if runtime.GOOS == "linux" {
		kernel, _ = os.ReadFile("/proc/sys/kernel/domainname")
	}
	host, _ := os.Hostname()
	return domainOf(string(kernel), host)
}

// domainOf picks the domain from the kernel's domain name (Linux reports
// "(none)" when unset) or else from a fully qualified host name.
func domainOf(kernel, hostname string) string {
	if d := strings.TrimSpace(kernel); d != "" && d != "(none)" {
		return d
	}
	hostname = strings.TrimSuffix(strings.TrimSpace(hostname), ".")
	if i := strings.IndexByte(hostname, '.'); i > 0 && i < len(hostname)-1 {
		return hostname[i+1:]
	}
	return ""
}

// Process implements PostureProvider on Linux by looking for a process whose
// executable is path.
func (HostPosture) Process(path string) (bool, string, []string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	running := false
	for _, exe := range procs {
		if target, err := os.Readlink(exe); err == nil && target == path {
			running = true
			break
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return running, "", nil
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, io.LimitReader(f, 1<<30)); err != nil {
		return running, "", nil
	}
	return running, hex.EncodeToString(h.Sum(nil)), nil
}
