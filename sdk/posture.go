package sdk

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"

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

// answerPosture sends the provider's facts for the service's failing queries.
func (c *Context) answerPosture(ctx context.Context, svc *Service) error {
	p := c.opts.Posture
	if p == nil {
		return nil
	}
	var responses []map[string]any
	seen := map[string]bool{}
	for _, q := range svc.PostureQueries {
		if q.IsPassing || seen[q.ID] {
			continue
		}
		seen[q.ID] = true
		switch q.Type {
		case "OS":
			typ, version, build := p.OperatingSystem()
			responses = append(responses, map[string]any{"id": q.ID, "typeId": "OS", "type": typ, "version": version, "build": build})
		case "MAC":
			responses = append(responses, map[string]any{"id": q.ID, "typeId": "MAC", "macAddresses": nonNil(p.MACAddresses())})
		case "DOMAIN":
			responses = append(responses, map[string]any{"id": q.ID, "typeId": "DOMAIN", "domain": p.Domain()})
		case "PROCESS", "PROCESS_MULTI":
			for _, path := range q.Paths {
				running, hash, signers := p.Process(path)
				responses = append(responses, map[string]any{"id": q.ID, "typeId": "PROCESS", "path": path,
					"isRunning": running, "hash": hash, "signerFingerprints": nonNil(signers)})
			}
		}
	}
	if len(responses) == 0 {
		return nil
	}
	return c.call(ctx, http.MethodPost, "/posture-response-bulk", responses, nil)
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

// Domain implements PostureProvider (no domain outside Windows).
func (HostPosture) Domain() string { return "" }

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
