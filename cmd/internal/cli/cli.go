// Package cli owns the `ostium` administration command line: login and the
// stored session, create/list/show/update/delete of every management entity
// over the Edge Management API (plain HTTPS and JSON), enrollment of
// identities, dialing a service, shell completion and the quickstart.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/internal/buildinfo"
	"github.com/ostium-net/ostium/internal/exitcode"
	"github.com/ostium-net/ostium/sdk"
)

// Exit codes scripts can rely on: the same in every Ostium command (see
// package exitcode).
const (
	ExitOK           = exitcode.OK
	ExitError        = exitcode.Error
	ExitUsage        = exitcode.Usage
	ExitUnauthorized = exitcode.Unauthorized
	ExitNotFound     = exitcode.NotFound
	ExitUnavailable  = exitcode.Unavailable
)

// Env is what the commands read from and write to. Zero fields fall back to
// the process's standard streams and the user's configuration directory.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ConfigDir holds session.json; defaults to $XDG_CONFIG_HOME/ostium
	// (os.UserConfigDir()/ostium).
	ConfigDir string
	// Quickstart runs `ostium quickstart`; nil leaves the command out.
	Quickstart func(ctx context.Context, cmd *cobra.Command, opts QuickstartFlags) error
}

// QuickstartFlags are the flags of `ostium quickstart`.
type QuickstartFlags struct {
	Home, Password     string
	APIAddr, EdgeAddr  string
	RouterCtl, Cluster string
	Verbose            bool
	// Routers is how many linked routers run.
	Routers int
	// Ops is the address of the ops listener (metrics, health, pprof); empty: none.
	Ops string
}

// usageErr is a mistake in the command line (exit code 2).
func usageErr(format string, args ...any) error {
	return exitcode.Usagef(format, args...)
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if errors.Is(err, errNotLoggedIn) {
		return ExitUnauthorized
	}
	if sdk.IsUnreachable(err) {
		return ExitUnavailable
	}
	return exitcode.Of(err)
}

// Run executes the command line args and returns the exit code; errors are
// printed to env.Stderr as one line.
func Run(ctx context.Context, args []string, env Env) int {
	root := NewRoot(&env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(root.ErrOrStderr(), "error:", describe(err))
	}
	return ExitCode(err)
}

// describe turns an error into the one line shown to the user.
func describe(err error) string {
	var ae *APIError
	// A refused session asks for a login; refused credentials (INVALID_AUTH,
	// the answer to a login itself) say so on their own.
	if errors.As(err, &ae) && ae.Status == 401 && ae.Code != "INVALID_AUTH" {
		return err.Error() + " (not logged in or the session expired: run `ostium login`)"
	}
	return err.Error()
}

// NewRoot builds the command tree.
func NewRoot(env *Env) *cobra.Command {
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	if env.Stdout == nil {
		env.Stdout = os.Stdout
	}
	if env.Stderr == nil {
		env.Stderr = os.Stderr
	}
	a := &app{env: env}
	root := &cobra.Command{
		Use:   "ostium",
		Short: "Administer an Ostium network through its management API",
		Long: `ostium manages an Ostium network: log in to a controller once, then create,
list, show, update and delete its entities, enroll identities and dial services.

` + exitcode.Describe,
		Example: `  ostium login https://ctrl.example.com:1280 -u admin
  ostium list services 'name contains "db"'
  ostium create identity laptop --role-attributes staff -o laptop.jwt
  ostium enroll laptop.jwt -o laptop.json
  ostium create service-policy staff-db Dial --identity-roles '#staff' --service-roles '@db'`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Version,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return exitcode.With(ExitUsage, err)
	})
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml (create identity/edge-router and enroll: a file to write)")
	root.AddCommand(a.loginCmd(), a.logoutCmd(), a.listCmd(), a.showCmd(), a.deleteCmd(),
		a.createCmd(), a.updateCmd(), a.enrollCmd(), a.dialCmd(), a.clusterCmd(), a.policyAdvisorCmd(), a.benchCmd())
	if env.Quickstart != nil {
		root.AddCommand(a.quickstartCmd())
	}
	return root
}

// app holds state shared by the commands of one run.
type app struct {
	env    *Env
	output string
}

func (a *app) format() (string, error) {
	switch a.output {
	case "table", "json", "yaml":
		return a.output, nil
	}
	return "", usageErr("unknown output format %q: use table, json or yaml", a.output)
}

func (a *app) quickstartCmd() *cobra.Command {
	var f QuickstartFlags
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Run a whole local network (controller, router, demo service) from one directory",
		Long: `quickstart keeps a whole network in --home: PKI, database, an edge router and
a demo "echo" service hosted in the same process. The first run creates
everything, creates the admin (password from --password or generated and
printed) and writes the demo client's enrollment JWT; later runs resume from
--home. Ctrl-C stops it.`,
		Example: `  ostium quickstart --home ~/.ostium-quickstart
  ostium quickstart --home ./qs --password 'my admin password'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Home == "" {
				return usageErr("--home is required")
			}
			if f.Routers < 1 || f.Routers > 16 {
				return usageErr("--routers must be from 1 to 16")
			}
			return a.env.Quickstart(cmd.Context(), cmd, f)
		},
	}
	cmd.Flags().StringVar(&f.Home, "home", "", "directory holding the network")
	cmd.Flags().StringVar(&f.Password, "password", "", "admin password for a new network (generated and printed when empty)")
	cmd.Flags().StringVar(&f.APIAddr, "api", "127.0.0.1:1280", "address of the controller's APIs")
	cmd.Flags().StringVar(&f.EdgeAddr, "edge", "127.0.0.1:3022", "address of the router's edge listener")
	cmd.Flags().StringVar(&f.RouterCtl, "router-control", "127.0.0.1:6262", "address routers' control channels connect to")
	cmd.Flags().StringVar(&f.Cluster, "cluster", "127.0.0.1:6363", "raft cluster address")
	cmd.Flags().BoolVarP(&f.Verbose, "verbose", "v", false, "log what the controller and router do")
	cmd.Flags().IntVar(&f.Routers, "routers", 1, "how many linked edge routers to run (1 to 16)")
	cmd.Flags().StringVar(&f.Ops, "ops", "", "serve /metrics (controller, routers labelled router=NAME, tunneler), /health and /debug/pprof/ over plain HTTP on this address, e.g. 127.0.0.1:9090")
	return cmd
}
