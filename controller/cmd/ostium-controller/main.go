// Command ostium-controller runs an Ostium controller: `init` prepares the
// PKI, database and default admin; `run` serves the edge APIs. A whole local
// network in one process is `ostium quickstart`.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/internal/buildinfo"
	"github.com/ostium-net/ostium/internal/exitcode"
	"github.com/ostium-net/ostium/internal/gcfloor"
)

func main() {
	os.Exit(exitcode.Run(newRoot(), os.Stderr))
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "ostium-controller",
		Short:         "The Ostium controller: edge client and management APIs, PKI and replicated state",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long:          exitcode.Describe,
		Version:       buildinfo.Version,
	}
	root.AddCommand(newInit(), newRun(), newBackup(), newRestore())
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
	var configPath, username, password, joinToken string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the PKI, the database and the default admin",
		Example: `  OSTIUM_ADMIN_PASSWORD='s3cret!' ostium-controller init --config etc/controller.yml
  ostium-controller init --config etc/controller.yml --admin-password 's3cret!'
  ostium-controller init --config etc/controller.yml --join ostium-join-v1.eyJ...`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if joinToken != "" {
				return controller.InitJoin(ctx, cfg, joinToken, newLogger(cfg))
			}
			if password == "" {
				password = os.Getenv("OSTIUM_ADMIN_PASSWORD")
			}
			if password == "" {
				return errors.New("give the admin password with --admin-password or OSTIUM_ADMIN_PASSWORD")
			}
			return controller.Init(ctx, cfg, controller.InitOptions{AdminUsername: username, AdminPassword: password}, newLogger(cfg))
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "controller configuration file (YAML)")
	cmd.Flags().StringVar(&username, "admin-username", controller.DefaultAdminUsername, "username of the default admin")
	cmd.Flags().StringVar(&password, "admin-password", "", "password of the default admin (or OSTIUM_ADMIN_PASSWORD)")
	cmd.Flags().StringVar(&joinToken, "join", "", "prepare a controller that joins an existing cluster, with a token from `ostium cluster join-token` (no admin password: the state comes from the cluster)")
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
			floor, err := gcfloor.FloorFromEnv()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := newLogger(cfg)
			gcfloor.Keep(ctx, floor, log)
			return controller.Run(ctx, cfg, log)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "controller configuration file (YAML)")
	cmd.Flags().StringVar(&join, "cluster-join", "", "cluster address of an existing controller to join")
	return cmd
}

func newBackup() *cobra.Command {
	var configPath, out, url, username, password string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up a running controller's database through its API",
		Long: `Takes a consistent copy of the running controller's database through the management
API (POST /database/snapshot), signed in as an administrator, and writes it to --out once it
is complete and checked. The controller keeps serving. The backup holds every entity and the
audit trail but not the PKI's private keys: keep a copy of the PKI directory too.`,
		Example: `  OSTIUM_ADMIN_PASSWORD='s3cret!' ostium-controller backup --config etc/controller.yml --out ostium-$(date +%F).db`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if password == "" {
				password = os.Getenv("OSTIUM_ADMIN_PASSWORD")
			}
			if password == "" {
				return errors.New("give the administrator's password with --password or OSTIUM_ADMIN_PASSWORD")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			n, err := controller.Backup(ctx, cfg, controller.BackupOptions{URL: url, Username: username, Password: password, Out: out})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %d bytes written to %s\n", n, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "controller configuration file (YAML): the API address and the CA to trust")
	cmd.Flags().StringVar(&out, "out", "", "the backup file to write")
	cmd.Flags().StringVar(&url, "url", "", "the controller's API, https://host:port (default: from the configuration)")
	cmd.Flags().StringVar(&username, "username", controller.DefaultAdminUsername, "an administrator's username")
	cmd.Flags().StringVar(&password, "password", "", "the administrator's password (or OSTIUM_ADMIN_PASSWORD)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newRestore() *cobra.Command {
	var configPath, from, pkiFrom string
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Make a new controller's data directory from a backup",
		Long: `Writes the backup into the configuration's data directory, which must be empty (or hold only
the PKI directory), with the network's PKI copied from --pki when given. ` + "`ostium-controller run`" + ` then
starts a controller serving every entity of the backup, as the single member of a new cluster;
other controllers join it as usual.`,
		Example: `  ostium-controller restore --config etc/controller.yml --from ostium-2026-01-31.db --pki /backup/pki`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if err := controller.Restore(cfg, controller.RestoreOptions{From: from, PKIFrom: pkiFrom}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s; start it with ostium-controller run\n", from, cfg.DataDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "controller configuration file (YAML)")
	cmd.Flags().StringVar(&from, "from", "", "the backup file")
	cmd.Flags().StringVar(&pkiFrom, "pki", "", "a copy of the network's PKI directory to install (when the data directory lacks it)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}
