package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/store"
)

// Backup and restore. A backup is a consistent copy of a running
// controller's database, taken through its management API (POST
// /database/snapshot streams one bbolt read transaction): not a copy of the
// open file, and no controller stops for it. It holds every entity, the
// audit trail and hashed secrets, not the PKI's private keys, which stay in
// the PKI directory. Restore makes a new data directory from a backup; the
// controller started on it is a single-node cluster with a fresh raft log,
// which other controllers then join.

// BackupOptions say how to reach and sign in to the controller to back up.
type BackupOptions struct {
	// URL is the controller's API ("https://host:port"); by default the
	// configuration's api.advertise or api.listen.
	URL string
	// Username and Password are an administrator's.
	Username, Password string
	// Out is the backup file written; it is replaced only once the backup
	// is complete and checked.
	Out string
	// HTTPClient overrides the client (its TLS configuration must trust the
	// controller); by default one trusting the configuration's root CA.
	HTTPClient *http.Client
}

// Backup writes a backup of the running controller cfg describes to
// opts.Out, and returns its size.
func Backup(ctx context.Context, cfg Config, opts BackupOptions) (int64, error) {
	if opts.Out == "" {
		return 0, errors.New("no backup file given")
	}
	if opts.Username == "" {
		opts.Username = DefaultAdminUsername
	}
	if opts.Password == "" {
		return 0, errors.New("the administrator's password is required")
	}
	base := strings.TrimSuffix(opts.URL, "/")
	if base == "" {
		base = "https://" + apiHostPort(cfg.AdvertiseAddr())
	}
	client := opts.HTTPClient
	if client == nil {
		pool, err := rootPool(cfg)
		if err != nil {
			return 0, err
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		defer client.CloseIdleConnections()
	}
	mgmt := base + "/edge/management/v1"
	token, err := signIn(ctx, client, mgmt, opts.Username, opts.Password)
	if err != nil {
		return 0, err
	}
	defer signOut(client, mgmt, token)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mgmt+"/database/snapshot", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("zt-session", token)
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask %s for a snapshot: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("the controller refused the snapshot: %s", apiError(resp))
	}
	if err := os.MkdirAll(filepath.Dir(opts.Out), 0o700); err != nil {
		return 0, err
	}
	tmp := opts.Out + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create the backup file: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A stream cut short is not a database: check before keeping it.
		err = store.Verify(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, opts.Out)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// apiHostPort turns a listen address into one a client can dial: an
// unspecified host becomes the loopback address.
func apiHostPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// rootPool trusts the network's root CA (and the extra CAs configured).
func rootPool(cfg Config) (*x509.CertPool, error) {
	files := cfg.PKIConfigFiles()
	pool := x509.NewCertPool()
	for _, path := range append([]string{files.RootCert}, files.ExtraTrustedCAs...) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read the CA to trust: %w", err)
		}
		certs, err := pki.ParseCertificatesPEM(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

func signIn(ctx context.Context, client *http.Client, mgmt, username, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mgmt+"/authenticate?method=password", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("sign in as %s: %s", username, apiError(resp))
	}
	var env struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env); err != nil || env.Data.Token == "" {
		return "", fmt.Errorf("sign in: the answer holds no token")
	}
	return env.Data.Token, nil
}

func signOut(client *http.Client, mgmt, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, mgmt+"/current-api-session", nil)
	if err != nil {
		return
	}
	req.Header.Set("zt-session", token)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
}

// apiError describes a failed answer by its error envelope.
func apiError(resp *http.Response) string {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &env) == nil && env.Error.Code != "" {
		return fmt.Sprintf("%d %s: %s", resp.StatusCode, env.Error.Code, env.Error.Message)
	}
	return resp.Status
}

// RestoreOptions say where a restore reads from.
type RestoreOptions struct {
	// From is the backup file.
	From string
	// PKIFrom, when set, is a directory holding the network's PKI files
	// (the pki/ of the controller that was backed up); they are copied to
	// the configuration's PKI directory. Otherwise the PKI must be there.
	PKIFrom string
}

// Restore makes cfg's data directory, which must be empty (or hold only the
// PKI directory), from a backup. A controller started on it then serves
// every entity of the backup, as the single voter of a new raft cluster.
// Nothing runs during the restore: it only writes files.
func Restore(cfg Config, opts RestoreOptions) error {
	if opts.From == "" {
		return errors.New("no backup file given")
	}
	if err := checkEmptyDataDir(cfg); err != nil {
		return err
	}
	if opts.PKIFrom != "" {
		if err := copyPKI(opts.PKIFrom, cfg.PKIDir()); err != nil {
			return err
		}
	}
	if _, err := pki.Load(cfg.PKIConfigFiles()); err != nil {
		return fmt.Errorf("the network's PKI is needed beside the backup (it holds the CA keys the backup does not): "+
			"copy the backed-up controller's pki directory with --pki DIR: %w", err)
	}
	f, err := os.Open(opts.From)
	if err != nil {
		return fmt.Errorf("open the backup: %w", err)
	}
	defer f.Close()
	if err := store.Import(f, filepath.Join(cfg.DataDir, "ctrl.db")); err != nil {
		return fmt.Errorf("restore %s: %w", opts.From, err)
	}
	return nil
}

// checkEmptyDataDir refuses a data directory that holds anything but the
// PKI directory.
func checkEmptyDataDir(cfg Config) error {
	entries, err := os.ReadDir(cfg.DataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the data directory: %w", err)
	}
	pkiDir, _ := filepath.Abs(cfg.PKIDir())
	for _, e := range entries {
		if p, _ := filepath.Abs(filepath.Join(cfg.DataDir, e.Name())); p == pkiDir && e.IsDir() {
			continue
		}
		return fmt.Errorf("the data directory %s is not empty (it holds %s): a restore starts a new controller in an "+
			"empty data directory; move the old one aside or point dataDir elsewhere", cfg.DataDir, e.Name())
	}
	return nil
}

// copyPKI copies the regular files of the PKI directory src into dst. A
// file already there with the same content is kept (a restore tried again);
// one with other content is not overwritten.
func copyPKI(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("read the PKI to copy: %w", err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		target := filepath.Join(dst, e.Name())
		if have, err := os.ReadFile(target); err == nil {
			if !bytes.Equal(have, raw) {
				return fmt.Errorf("copy the PKI: %s is already there with other content", target)
			}
			continue
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("copy the PKI: %w", err)
		}
		_, err = out.Write(raw)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("copy the PKI: %w", err)
		}
	}
	return nil
}
