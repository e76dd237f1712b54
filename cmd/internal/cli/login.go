package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/sdk/enroll"
)

func (a *app) loginCmd() *cobra.Command {
	var username, password, caFile, mfaCode, token string
	var yes bool
	cmd := &cobra.Command{
		Use:   "login URL",
		Short: "Log in to a controller and remember the session",
		Long: `login authenticates with a username and password and stores the session,
the controller URL and its CA in the user's configuration directory
(session.json, mode 0600). With --token it stores an API token instead (from
` + "`ostium create api-token`" + `), after checking that the controller accepts it;
later commands send it as "Authorization: Bearer". Unless --ca-file is given, the controller's CA is
fetched from /.well-known/est/cacerts and its SHA-256 fingerprint shown; it is
trusted after you confirm (or with --yes). When the administrator has MFA
enrolled, login asks for the TOTP code (or takes --mfa-code, or
OSTIUM_MFA_CODE) and completes the sign-in with it.`,
		Example: `  ostium login https://127.0.0.1:1280 -u admin
  ostium login https://ctrl.example.com:1280 -u admin -p "$PASSWORD" --yes
  ostium login ctrl.example.com:1280 -u admin --ca-file ca.pem
  ostium login https://ctrl.example.com:1280 --token "$OSTIUM_TOKEN" --ca-file ca.pem`,
		Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := normalizeURL(args[0])
			if err != nil {
				return err
			}
			token = strings.TrimSpace(token)
			if token == "" {
				token = strings.TrimSpace(os.Getenv("OSTIUM_TOKEN"))
			}
			switch {
			case token != "" && username != "":
				return usageErr("give either -u or --token, not both")
			case token != "" && !isAPIToken(token):
				return usageErr("--token takes an API token (%s...), from `ostium create api-token`", apiTokenPrefix)
			case token == "" && username == "":
				return usageErr("give the username with -u, or an API token with --token")
			}
			in := bufio.NewReader(a.env.Stdin)
			var caPEM []byte
			if caFile != "" {
				if caPEM, err = os.ReadFile(caFile); err != nil {
					return fmt.Errorf("read CA file: %w", err)
				}
			} else {
				certs, err := fetchCACerts(cmd.Context(), base)
				if err != nil {
					return err
				}
				out := cmd.ErrOrStderr()
				fmt.Fprintf(out, "The controller at %s presents these CA certificates:\n", base)
				for _, c := range certs {
					sum := sha256.Sum256(c.Raw)
					fmt.Fprintf(out, "  %s\n    SHA-256 %s\n", c.Subject.String(), fingerprint(sum[:]))
					caPEM = append(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
				}
				if !yes {
					fmt.Fprint(out, "Trust them? [y/N] ")
					line, _ := in.ReadString('\n')
					if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
						return errors.New("the controller's CA was not trusted; nothing was stored")
					}
				}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(caPEM) {
				return fmt.Errorf("no CA certificate to trust")
			}
			if token != "" {
				return a.loginWithToken(cmd, base, token, caPEM, pool)
			}
			if password == "" {
				password = os.Getenv("OSTIUM_PASSWORD")
			}
			if password == "" {
				fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
				line, _ := in.ReadString('\n')
				password = strings.TrimRight(line, "\r\n")
			}
			c := NewClient(base, "", pool)
			env, err := c.Do(cmd.Context(), "POST", "/authenticate?method=password", nil, map[string]string{"username": username, "password": password})
			if err != nil {
				return fmt.Errorf("log in to %s: %w", base, err)
			}
			var sess struct {
				Token       string `json:"token"`
				AuthQueries []struct {
					TypeID string `json:"typeId"`
				} `json:"authQueries"`
			}
			if err := json.Unmarshal(env.Data, &sess); err != nil || sess.Token == "" {
				return fmt.Errorf("log in to %s: the answer has no session token", base)
			}
			for _, q := range sess.AuthQueries {
				if q.TypeID != "MFA" {
					continue
				}
				code := mfaCode
				if code == "" {
					code = os.Getenv("OSTIUM_MFA_CODE")
				}
				if code == "" {
					fmt.Fprint(cmd.ErrOrStderr(), "MFA code: ")
					line, _ := in.ReadString('\n')
					code = strings.TrimSpace(line)
				}
				c.Token = sess.Token
				if _, err := c.Do(cmd.Context(), "POST", "/authenticate/mfa", nil, map[string]string{"code": code}); err != nil {
					// The half-open session is of no use to anyone.
					_, _ = c.Do(cmd.Context(), "DELETE", "/current-api-session", nil, nil)
					return fmt.Errorf("log in to %s: MFA: %w", base, err)
				}
			}
			path, err := a.saveSession(Session{URL: base, Token: sess.Token, CAPEM: string(caPEM)})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s as %s (session stored in %s)\n", base, username, path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "", "username")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password (or OSTIUM_PASSWORD; asked when empty)")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "trust this CA bundle (PEM) instead of fetching it")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "trust the fetched CA without asking")
	cmd.Flags().StringVar(&mfaCode, "mfa-code", "", "TOTP code, when MFA is enrolled (or OSTIUM_MFA_CODE; asked when empty)")
	cmd.Flags().StringVar(&token, "token", "", "store this API token instead of logging in with a password (or OSTIUM_TOKEN)")
	return cmd
}

// loginWithToken checks that the controller accepts an API token and
// stores it as the session.
func (a *app) loginWithToken(cmd *cobra.Command, base, token string, caPEM []byte, pool *x509.CertPool) error {
	env, err := NewClient(base, token, pool).Do(cmd.Context(), "GET", "/current-api-token", nil, nil)
	if err != nil {
		return fmt.Errorf("log in to %s with the API token: %w", base, err)
	}
	var t struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	_ = json.Unmarshal(env.Data, &t)
	path, err := a.saveSession(Session{URL: base, Token: token, CAPEM: string(caPEM)})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s with %s API token %s (stored in %s)\n", base, t.Role, t.Name, path)
	return nil
}

// fingerprint formats a digest as colon-separated upper-case hex.
func fingerprint(sum []byte) string {
	h := strings.ToUpper(hex.EncodeToString(sum))
	parts := make([]string, 0, len(h)/2)
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// fetchCACerts reads the controller's CA bundle without verifying the
// server: the user checks the fingerprint instead.
func fetchCACerts(ctx context.Context, base string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // trust is established by the fingerprint shown to the user
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/.well-known/est/cacerts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the controller's CA: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch the controller's CA: %w", err)
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("fetch the controller's CA: %w", decodeError(resp.StatusCode, body))
	}
	certs, err := enroll.ParseCACerts(body)
	if err != nil {
		return nil, fmt.Errorf("the controller's CA answer: %w", err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("the controller sent no CA certificate")
	}
	return certs, nil
}

func (a *app) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "End the stored session",
		Example: `  ostium logout`,
		Args:    rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			// The session is forgotten even when the controller is unreachable.
			// An API token stays valid: only its revocation ends it.
			var remoteErr error
			if !isAPIToken(c.Token) {
				_, remoteErr = c.Do(cmd.Context(), "DELETE", "/current-api-session", nil, nil)
			}
			path, err := a.sessionPath()
			if err != nil {
				return err
			}
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("remove session: %w", err)
			}
			if remoteErr != nil && ExitCode(remoteErr) != ExitUnauthorized {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the controller did not end the session: %v\n", remoteErr)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "logged out")
			return nil
		},
	}
}
