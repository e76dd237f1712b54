package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiTokenPrefix starts every API token; a stored credential with it is
// sent as "Authorization: Bearer", any other as zt-session.
const apiTokenPrefix = "ostium_at_"

func isAPIToken(token string) bool { return strings.HasPrefix(token, apiTokenPrefix) }

// parseExpiry reads --expires: a duration from now (90m, 720h, 30d) or an
// RFC 3339 time.
func parseExpiry(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 3650 {
			return time.Time{}, usageErr("--expires %q: a number of days from 1 to 3650, a duration such as 720h, or a time such as 2027-01-31T00:00:00Z", v)
		}
		return now.Add(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return time.Time{}, usageErr("--expires %q: a duration such as 720h or 30d, or a time such as 2027-01-31T00:00:00Z", v)
	}
	return now.Add(d), nil
}

func (a *app) createAPITokenCmd() *cobra.Command {
	var role, expires string
	cmd := &cobra.Command{
		Use:     "api-token NAME",
		Aliases: []string{"api-tokens"},
		Short:   "Create an API token for automation (printed once)",
		Long: `Create an API token for scripts and CI. The token is printed once on standard
output and never shown again: only a hash of it is kept. Use it with
` + "`ostium login URL --token TOKEN`" + ` or as "Authorization: Bearer TOKEN" on the
management API. An admin token may do what an administrator may; a read-only
token may only read. Revoke it with ` + "`ostium delete api-token ID`" + `.`,
		Example: `  ostium create api-token ci-deploy --role admin --expires 30d
  TOKEN=$(ostium create api-token dashboards --role read-only --expires 2027-01-31T00:00:00Z)`,
		Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if role != "admin" && role != "read-only" {
				return usageErr("--role is admin or read-only")
			}
			at, err := parseExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			env, err := c.Do(cmd.Context(), "POST", "/api-tokens", nil, map[string]any{
				"name": args[0], "role": role, "expiresAt": at.UTC().Format(time.RFC3339)})
			if err != nil {
				return err
			}
			var t struct {
				ID        string `json:"id"`
				Token     string `json:"token"`
				ExpiresAt string `json:"expiresAt"`
			}
			if err := json.Unmarshal(env.Data, &t); err != nil || t.Token == "" {
				return fmt.Errorf("the answer has no token")
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "created %s API token %s (id %s, expires %s); it is shown only this once\n", role, args[0], t.ID, t.ExpiresAt)
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "admin or read-only (required)")
	cmd.Flags().StringVar(&expires, "expires", "", "when it expires: a duration (720h, 30d) or an RFC 3339 time (required)")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("expires")
	return cmd
}
