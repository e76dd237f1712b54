package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/enroll"
	"github.com/ostium-net/ostium/sdk/identity"
)

func (a *app) enrollCmd() *cobra.Command {
	var keyAlg, username, password string
	cmd := &cobra.Command{
		Use:   "enroll JWT-FILE -o IDENTITY.json",
		Short: "Enroll an identity from its JWT and write the identity file",
		Long: `enroll checks the JWT's signature against the controller's CA, creates a key,
enrolls, and writes the identity file (mode 0600) that the sdk and tunnelers load.`,
		Example: `  ostium enroll laptop.jwt -o laptop.json
  ostium enroll router.jwt -o router.json --key-alg ec-p384`,
		Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := a.output
			if out == "" || isFormat(out) {
				out = strings.TrimSuffix(args[0], filepath.Ext(args[0])) + ".json"
				if out == args[0] {
					return usageErr("give the identity file to write with -o")
				}
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read the JWT: %w", err)
			}
			token := strings.TrimSpace(string(raw))
			if _, err := enroll.Peek(token); err != nil {
				return fmt.Errorf("%s is not an enrollment JWT: %w", args[0], err)
			}
			if _, err := os.Stat(out); err == nil {
				return usageErr("%s exists; remove it or choose another -o", out)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			res, err := enroll.Enroll(ctx, token, enroll.Options{KeyAlgorithm: keyAlg, Username: username, Password: password})
			if err != nil {
				return fmt.Errorf("enroll: %w", err)
			}
			if res.Identity == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "enrolled: log in with the username and password")
				return nil
			}
			if err := res.Identity.Save(out); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled; identity written to %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyAlg, "key-alg", "", "key algorithm: ec-p256 (default), ec-p384, rsa-2048, rsa-4096")
	cmd.Flags().StringVar(&username, "username", "", "username (updb enrollment)")
	cmd.Flags().StringVar(&password, "password", "", "password (updb enrollment)")
	return cmd
}

func (a *app) dialCmd() *cobra.Command {
	var idFile string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "dial SERVICE --identity IDENTITY.json",
		Short: "Connect stdin and stdout to a service",
		Long: `dial authenticates with an identity file, dials the service and copies stdin
to it and its answers to stdout until either side closes.`,
		Example: `  echo hello | ostium dial echo --identity echo-client.json
  ostium dial echo -i echo-client.json`,
		Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if idFile == "" {
				return usageErr("give the identity file with --identity")
			}
			id, err := identity.Load(idFile)
			if err != nil {
				return err
			}
			// A certificate renewed while the connection lasts is written back: the
			// controller no longer accepts the old one.
			c, err := sdk.New(id, sdk.Options{IdentityFile: idFile})
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			// A controller that is down (restarting, say) is waited for, said once.
			waited := false
			err = c.AuthenticateWait(ctx, func(err error) {
				waited = true
				fmt.Fprintf(cmd.ErrOrStderr(), "cannot reach the controller at %s (%v); retrying for up to %s\n", c.ControllerURL(), err, timeout)
			})
			if err != nil {
				return err
			}
			if waited {
				fmt.Fprintln(cmd.ErrOrStderr(), "connected to the controller")
			}
			conn, err := c.Dial(ctx, args[0])
			cancel()
			if err != nil {
				return fmt.Errorf("dial %s: %w", args[0], err)
			}
			defer conn.Close()
			go func() {
				_, _ = io.Copy(conn, a.env.Stdin)
				if cw, ok := conn.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
				}
			}()
			_, err = io.Copy(cmd.OutOrStdout(), conn)
			if err != nil {
				return fmt.Errorf("read from %s: %w", args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&idFile, "identity", "i", "", "identity file (from `ostium enroll`)")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the controller and the service to answer")
	return cmd
}
