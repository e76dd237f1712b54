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
	root.AddCommand(newInit(), newRun())
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
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return controller.Run(ctx, cfg, newLogger(cfg))
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "controller configuration file (YAML)")
	cmd.Flags().StringVar(&join, "cluster-join", "", "cluster address of an existing controller to join")
	return cmd
}
