// Command ostium is the administration command line of an Ostium network:
// log in to a controller, manage its entities, enroll identities, dial
// services, and run a whole local network with `ostium quickstart`.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/cmd/internal/cli"
	"github.com/ostium-net/ostium/cmd/internal/quickstart"
	"github.com/ostium-net/ostium/internal/gcfloor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Quickstart: runQuickstart})
	stop()
	os.Exit(code)
}

// runQuickstart runs the local network until the command's context ends
// (Ctrl-C).
func runQuickstart(ctx context.Context, cmd *cobra.Command, f cli.QuickstartFlags) error {
	log := slog.New(slog.DiscardHandler)
	if f.Verbose {
		log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	// The network's controller runs in this process: its collector is paced as a
	// controller's is (see ostium-controller run).
	floor, err := gcfloor.FloorFromEnv()
	if err != nil {
		return err
	}
	gcfloor.Keep(ctx, floor, log)
	return quickstart.Run(ctx, quickstart.Options{
		Home: f.Home, Password: f.Password,
		APIAddr: f.APIAddr, EdgeAddr: f.EdgeAddr, RouterCtlAddr: f.RouterCtl, ClusterAddr: f.Cluster, Routers: f.Routers, OpsAddr: f.Ops,
		Progress: cmd.OutOrStdout(), Log: log, Command: commandName(),
	})
}

// commandName is how this program was invoked, for the printed instructions:
// "ostium" when found on PATH, the path as typed otherwise (./bin/ostium).
func commandName() string {
	name := os.Args[0]
	if filepath.Base(name) == name {
		return "ostium"
	}
	return name
}
