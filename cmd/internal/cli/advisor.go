package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// policyAdvice is what GET /identities/{id}/policy-advice/{serviceId} answers.
type policyAdvice struct {
	Identity         ref   `json:"identity"`
	Service          ref   `json:"service"`
	IdentityDisabled bool  `json:"isIdentityDisabled"`
	EdgeRouterPols   []ref `json:"edgeRouterPolicies"`
	ServiceERPols    []ref `json:"serviceEdgeRouterPolicies"`
	IdentityRouters  int   `json:"identityRouterCount"`
	ServiceRouters   int   `json:"serviceRouterCount"`
	CommonRouters    []struct {
		ref
		IsOnline   bool `json:"isOnline"`
		IsDisabled bool `json:"isDisabled"`
	} `json:"commonRouters"`
	PostureAPISessionID string           `json:"postureApiSessionId"`
	Dial                advicePermission `json:"dial"`
	Bind                advicePermission `json:"bind"`
}

type ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (r ref) String() string {
	if r.Name == "" || r.Name == r.ID {
		return r.ID
	}
	return r.Name + " (" + r.ID + ")"
}

type advicePermission struct {
	Allowed   bool     `json:"allowed"`
	PostureOK bool     `json:"postureOk"`
	Ready     bool     `json:"ready"`
	Problems  []string `json:"problems"`
	Policies  []struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		Passing       bool   `json:"passing"`
		PostureChecks []struct {
			Name      string `json:"name"`
			TypeID    string `json:"typeId"`
			Evaluated bool   `json:"evaluated"`
			Passing   bool   `json:"passing"`
			Reason    string `json:"reason"`
		} `json:"postureChecks"`
	} `json:"policies"`
}

func (a *app) policyAdvisorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "policy-advisor IDENTITY SERVICE",
		Short: "Explain whether an identity can dial or bind a service, and what is missing",
		Long: `policy-advisor reads the policies and the network as they are and explains, for Dial
and for Bind, what lets the identity use the service or what stands in the way: the
service policies granting the permission and their posture checks, the edge-router
policies selecting the identity, the service-edge-router policies selecting the
service, the routers the two have in common and whether they are online.
IDENTITY and SERVICE are names or ids.`,
		Example: `  ostium policy-advisor laptop web
  ostium policy-advisor laptop web -o json`,
		Args:              rangeArgs(2, 2),
		ValidArgsFunction: a.completeAdvisorArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			identities, _ := lookupEntity("identities")
			services, _ := lookupEntity("services")
			identityID, err := c.resolve(cmd.Context(), identities, args[0])
			if err != nil {
				return err
			}
			serviceID, err := c.resolve(cmd.Context(), services, args[1])
			if err != nil {
				return err
			}
			env, err := c.Do(cmd.Context(), "GET", "/identities/"+url.PathEscape(identityID)+"/policy-advice/"+url.PathEscape(serviceID), nil, nil)
			if err != nil {
				return err
			}
			if format != "table" {
				return writeStructured(cmd.OutOrStdout(), format, env.Data)
			}
			var adv policyAdvice
			if err := json.Unmarshal(env.Data, &adv); err != nil {
				return fmt.Errorf("decode the advice: %w", err)
			}
			writeAdvice(cmd.OutOrStdout(), &adv)
			return nil
		},
	}
}

// completeAdvisorArgs offers identity names, then service names.
func (a *app) completeAdvisorArgs(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	kinds := []string{"identities", "services"}
	if len(args) >= len(kinds) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.completeNames(cmd, kinds[len(args)], prefix)
}

func refs(rs []ref) string {
	if len(rs) == 0 {
		return "none"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Name
		if parts[i] == "" {
			parts[i] = r.ID
		}
	}
	return strings.Join(parts, ", ")
}

// writeAdvice prints the advice for people.
func writeAdvice(w io.Writer, adv *policyAdvice) {
	fmt.Fprintf(w, "identity  %s\n", adv.Identity)
	fmt.Fprintf(w, "service   %s\n\n", adv.Service)
	for _, p := range []struct {
		name string
		adv  advicePermission
	}{{"Dial", adv.Dial}, {"Bind", adv.Bind}} {
		verdict := "yes"
		if !p.adv.Ready {
			verdict = "no"
		}
		fmt.Fprintf(w, "%s: %s\n", p.name, verdict)
		for _, pol := range p.adv.Policies {
			fmt.Fprintf(w, "  granted by service policy %s\n", pol.Name)
			for _, c := range pol.PostureChecks {
				state := "not evaluated: the identity has not signed in yet"
				switch {
				case c.Evaluated && c.Passing:
					state = "passes"
				case c.Evaluated:
					state = "fails: " + c.Reason
				}
				fmt.Fprintf(w, "    posture check %s (%s) %s\n", c.Name, c.TypeID, state)
			}
		}
		for _, problem := range p.adv.Problems {
			fmt.Fprintf(w, "  - %s\n", problem)
		}
	}
	fmt.Fprintln(w)
	if adv.IdentityDisabled {
		fmt.Fprintln(w, "the identity is disabled")
	}
	fmt.Fprintf(w, "edge-router policies selecting the identity: %s (%s)\n", refs(adv.EdgeRouterPols), routerCount(adv.IdentityRouters))
	fmt.Fprintf(w, "service-edge-router policies selecting the service: %s (%s)\n", refs(adv.ServiceERPols), routerCount(adv.ServiceRouters))
	if len(adv.CommonRouters) == 0 {
		fmt.Fprintln(w, "routers in common: none")
		return
	}
	parts := make([]string, 0, len(adv.CommonRouters))
	for _, r := range adv.CommonRouters {
		state := "offline"
		switch {
		case r.IsDisabled:
			state = "disabled"
		case r.IsOnline:
			state = "online"
		}
		name := r.Name
		if name == "" {
			name = r.ID
		}
		parts = append(parts, name+" ("+state+")")
	}
	fmt.Fprintf(w, "routers in common: %s\n", strings.Join(parts, ", "))
}

func routerCount(n int) string {
	if n == 1 {
		return "1 router"
	}
	return fmt.Sprintf("%d routers", n)
}
