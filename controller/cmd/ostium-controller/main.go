// Command ostium-controller runs an Ostium controller: `init` prepares the
// PKI, database and default admin; `run` serves the edge APIs.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/internal/buildinfo"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "ostium-controller",
		Short:         "The Ostium controller: edge client and management APIs, PKI and replicated state",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Version,
	}
	root.AddCommand(newInit(), newRun(), newQuickstart())
	return root
}

func loadConfig(path string) (controller.Config, error) {
	if path == "" {
		return controller.ParseConfig(nil)
	}
	return controller.LoadConfig(path)
}

func newLogger(cfg controller.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func newInit() *cobra.Command {
	var configPath, username, password string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the PKI, the database and the default admin",
		Example: `  OSTIUM_ADMIN_PASSWORD='s3cret!' ostium-controller init --config etc/controller.yml
  ostium-controller init --config etc/controller.yml --admin-password 's3cret!'`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if password == "" {
				password = os.Getenv("OSTIUM_ADMIN_PASSWORD")
			}
			if password == "" {
				return errors.New("give the admin password with --admin-password or OSTIUM_ADMIN_PASSWORD")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return controller.Init(ctx, cfg, controller.InitOptions{AdminUsername: username, AdminPassword: password}, newLogger(cfg))
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "controller configuration file (YAML)")
	cmd.Flags().StringVar(&username, "admin-username", controller.DefaultAdminUsername, "username of the default admin")
	cmd.Flags().StringVar(&password, "admin-password", "", "password of the default admin (or OSTIUM_ADMIN_PASSWORD)")
	return cmd
}

func newRun() *cobra.Command {
	var configPath, join string
	cmd := &cobra.Command{
		Use:     "run",
		Short:   "Run the controller",
		Example: `  ostium-controller run --config etc/controller.yml`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if join != "" {
				cfg.Cluster.Join = join
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return controller.Run(ctx, cfg, newLogger(cfg))
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "controller configuration file (YAML)")
	cmd.Flags().StringVar(&join, "cluster-join", "", "cluster address of an existing controller to join")
	return cmd
}

func newQuickstart() *cobra.Command {
	var home, password string
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Initialise (once) and run a single-node controller in one directory",
		Long: `quickstart keeps everything in --home: the configuration, the PKI and the
database. The first run creates them and prints the admin password; later runs
reuse them. Ctrl-C stops it.`,
		Example: `  ostium-controller quickstart --home ~/.ostium-quickstart
  ostium-controller quickstart --home ./qs --password 'my admin password'`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return errors.New("--home is required")
			}
			home, err := filepath.Abs(home)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(home, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", home, err)
			}
			cfgPath := filepath.Join(home, "controller.yml")
			if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
				if err := os.WriteFile(cfgPath, []byte("dataDir: data\n"), 0o600); err != nil {
					return fmt.Errorf("write %s: %w", cfgPath, err)
				}
			}
			cfg, err := controller.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			log := newLogger(cfg)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fresh := false
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "ctrl.db")); errors.Is(err, os.ErrNotExist) {
				fresh = true
				if password == "" {
					password = rand.Text()
				}
				fmt.Fprintf(cmd.OutOrStdout(), "[1/2] initialising PKI and database in %s\n", home)
				if err := controller.Init(ctx, cfg, controller.InitOptions{AdminPassword: password}, log); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "[1/2] reusing the network in %s\n", home)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "[2/2] starting the controller on https://%s\n", cfg.API.Listen)
			c, err := controller.Start(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer c.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "\nReady. Management API: https://%s/edge/management/v1\n", c.Addr())
			if fresh {
				fmt.Fprintf(cmd.OutOrStdout(), "Admin login: username %q, password %q (shown once; keep it)\n", controller.DefaultAdminUsername, password)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA bundle: %s\nPress Ctrl-C to stop.\n", filepath.Join(cfg.PKIDir(), "root-ca.cert"))
			select {
			case <-ctx.Done():
			case err := <-c.Err():
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "directory holding the quickstart network")
	cmd.Flags().StringVar(&password, "password", "", "admin password for a new network (generated and printed when empty)")
	return cmd
}
