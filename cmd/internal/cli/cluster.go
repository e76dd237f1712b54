package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// clusterCmd shows and changes the controllers of a high-availability
// cluster: `ostium cluster list|add|remove|transfer-leadership`.
func (a *app) clusterCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cluster",
		Short: "Show and change the controllers of the cluster",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the cluster's controllers as the one you are logged in to sees them",
		Args:  rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			format, err := a.format()
			if err != nil {
				return err
			}
			env, err := c.Do(cmd.Context(), "GET", "/cluster/members", nil, nil)
			if err != nil {
				return err
			}
			if format != "table" {
				return writeStructured(cmd.OutOrStdout(), format, env.Data)
			}
			v, err := decodeAny(env.Data)
			if err != nil {
				return err
			}
			var rows []map[string]any
			if items, ok := v.([]any); ok {
				for _, x := range items {
					if m, ok := x.(map[string]any); ok {
						rows = append(rows, m)
					}
				}
			}
			return writeTable(cmd.OutOrStdout(), []string{"id", "address", "apiAddress", "leader", "voter", "connected", "lastContact", "appliedIndex", "self"}, rows)
		},
	}
	var nonVoter bool
	add := &cobra.Command{
		Use:     "add ID CLUSTER-ADDRESS",
		Short:   "Add a running controller to the cluster by hand",
		Example: `  ostium cluster add ctrl-4 10.0.0.4:6363`,
		Args:    rangeArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			body := map[string]any{"id": args[0], "address": args[1], "voter": !nonVoter}
			if _, err := c.Do(cmd.Context(), "POST", "/cluster/members", nil, body); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s at %s\n", args[0], args[1])
			return nil
		},
	}
	add.Flags().BoolVar(&nonVoter, "non-voter", false, "replicate the log to it without giving it a vote")
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a controller from the cluster",
		Args:  rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if _, err := c.Do(cmd.Context(), "DELETE", "/cluster/members/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	transfer := &cobra.Command{
		Use:   "transfer-leadership [ID]",
		Short: "Hand the leadership to another controller (the most up-to-date one without ID)",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			body := map[string]any{}
			if len(args) == 1 {
				body["id"] = args[0]
			}
			if _, err := c.Do(cmd.Context(), "POST", "/cluster/transfer-leadership", nil, body); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "leadership transferred")
			return nil
		},
	}
	var expires time.Duration
	joinToken := &cobra.Command{
		Use:   "join-token",
		Short: "Make a one-time token that lets a new controller join (ostium-controller init --join TOKEN)",
		Long: `Make a one-time token that lets a new controller join the cluster.

On the new machine, with its own controller.yml (its own api, routers and
cluster addresses) and an empty data directory:

  ostium-controller init --config controller.yml --join TOKEN
  ostium-controller run  --config controller.yml

The token names this controller's API address and pins the network's root CA;
the new controller receives the signing CA with it and makes its own server
certificate for its own addresses. The token works once, until it expires.`,
		Args: rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expires < time.Minute || expires > 7*24*time.Hour {
				return usageErr("--expires must be between 1m and 168h, not %s", expires)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			env, err := c.Do(cmd.Context(), "POST", "/cluster/join-tokens", nil, map[string]any{"expiresInSeconds": int64(expires / time.Second)})
			if err != nil {
				return err
			}
			var out struct {
				Token     string `json:"token"`
				ExpiresAt string `json:"expiresAt"`
			}
			if err := json.Unmarshal(env.Data, &out); err != nil {
				return fmt.Errorf("decode the token: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "usable once, until %s: ostium-controller init --config controller.yml --join TOKEN\n", out.ExpiresAt)
			return nil
		},
	}
	joinToken.Flags().DurationVar(&expires, "expires", time.Hour, "how long the token stays usable (1m to 168h)")
	root.AddCommand(list, add, remove, transfer, joinToken)
	return root
}
