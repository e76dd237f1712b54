package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// createEnrollmentCmd issues (or re-issues) an identity's enrollment JWT:
// `ostium create enrollment IDENTITY`. A pending enrollment of the same kind
// gets a new token (the old JWT stops working); otherwise a new enrollment is
// made, which for an enrolled identity revokes its certificate.
func (a *app) createEnrollmentCmd() *cobra.Command {
	var method, ca, username string
	var expires time.Duration
	var bf bodyFlags
	cmd := &cobra.Command{
		Use:     "enrollment IDENTITY",
		Aliases: []string{"enrollments"},
		Short:   "Issue an identity's enrollment JWT again (a lost JWT, a new device)",
		Long: `enrollment issues an enrollment JWT for IDENTITY (a name or an id) and saves it like
create identity does: to -o FILE, or to IDENTITY.jwt, or prints it when that file
exists. A pending enrollment of the same kind gets a new token and expiry (the
JWT issued before stops working). An identity already enrolled with a
certificate gets a new ott enrollment, and its current certificate is revoked:
enroll the new JWT on the device that is to use the identity.`,
		Example: `  ostium create enrollment laptop
  ostium create enrollment laptop --expires 72h -o laptop.jwt
  ostium create enrollment bob --method updb --username bob`,
		Args: func(cmd *cobra.Command, args []string) error {
			if bf.data != "" || bf.json != "" {
				return rangeArgs(0, 0)(cmd, args)
			}
			return rangeArgs(1, 1)(cmd, args)
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return a.completeNames(cmd, "identities", prefix)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if bf.data != "" || bf.json != "" {
				// The request body as the API takes it.
				body, err := a.baseBody(&bf)
				if err != nil {
					return err
				}
				env, err := c.Do(cmd.Context(), "POST", "/enrollments", nil, body)
				if err != nil {
					return err
				}
				return printEntity(cmd, "json", env.Data)
			}
			if expires <= 0 {
				return usageErr("--expires must be positive")
			}
			identities, _ := lookupEntity("identities")
			identityID, err := c.resolve(cmd.Context(), identities, args[0])
			if err != nil {
				return err
			}
			var ident struct {
				Name           string         `json:"name"`
				Authenticators map[string]any `json:"authenticators"`
			}
			detail, err := c.Do(cmd.Context(), "GET", "/identities/"+url.PathEscape(identityID), nil, nil)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(detail.Data, &ident); err != nil {
				return fmt.Errorf("decode the identity: %w", err)
			}
			expiresAt := time.Now().Add(expires).UTC().Format(time.RFC3339)
			enrollmentID, err := c.pendingEnrollment(cmd, identityID, method)
			if err != nil {
				return err
			}
			revoked := false
			if enrollmentID != "" {
				if _, err := c.Do(cmd.Context(), "POST", "/enrollments/"+url.PathEscape(enrollmentID)+"/refresh", nil,
					map[string]any{"expiresAt": expiresAt}); err != nil {
					return err
				}
			} else {
				body := map[string]any{"identityId": identityID, "method": method, "expiresAt": expiresAt}
				if ca != "" {
					cas, _ := lookupEntity("cas")
					if body["caId"], err = c.resolve(cmd.Context(), cas, ca); err != nil {
						return fmt.Errorf("--ca: %w", err)
					}
				}
				if username != "" {
					body["username"] = username
				}
				env, err := c.Do(cmd.Context(), "POST", "/enrollments", nil, body)
				if err != nil {
					return err
				}
				var created struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(env.Data, &created)
				enrollmentID = created.ID
				_, revoked = ident.Authenticators["cert"]
				revoked = revoked && method != "updb"
			}
			env, err := c.Do(cmd.Context(), "GET", "/enrollments/"+url.PathEscape(enrollmentID), nil, nil)
			if err != nil {
				return err
			}
			jwt, err := jwtOf(env.Data, "jwt")
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "enrollment %s for identity %s, valid until %s\n", enrollmentID, ident.Name, expiresAt)
			if revoked {
				fmt.Fprintf(out, "the certificate %s was enrolled with is revoked: enroll the new JWT to use the identity again\n", ident.Name)
			}
			file := ""
			if cmd.Flag("output").Changed {
				if isFormat(a.output) {
					return printEntity(cmd, a.output, env.Data)
				}
				file = a.output
			}
			return a.deliverJWT(cmd, jwt, file, ident.Name)
		},
	}
	cmd.Flags().StringVar(&method, "method", "ott", "ott (a certificate), ottca (a certificate from a third-party CA) or updb (a password)")
	cmd.Flags().StringVar(&ca, "ca", "", "the CA (name or id) of an ottca enrollment")
	cmd.Flags().StringVar(&username, "username", "", "the user name of an updb enrollment")
	cmd.Flags().DurationVar(&expires, "expires", 24*time.Hour, "how long the JWT stays valid")
	bf.add(cmd)
	return cmd
}

// pendingEnrollment is the id of the identity's pending enrollment of method,
// "" when it has none.
func (c *Client) pendingEnrollment(cmd *cobra.Command, identityID, method string) (string, error) {
	q := url.Values{"filter": {"identityId = " + quote(identityID) + " and method = " + quote(method)}, "limit": {"1"}}
	env, err := c.Do(cmd.Context(), "GET", "/enrollments", q, nil)
	if err != nil {
		return "", err
	}
	var list []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(env.Data, &list); err != nil {
		return "", fmt.Errorf("list enrollments: %w", err)
	}
	if len(list) == 0 {
		return "", nil
	}
	return list[0].ID, nil
}
