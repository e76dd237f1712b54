package store

// Link tables hold derived many-to-many relations (policy ⇄ identity and the
// like) in both directions, so that either side is a prefix scan. They are
// maintained by change hooks in the policy package.

// Link is a declared link table between two kinds.
type Link struct {
	Name string
	From *Kind
	To   *Kind
}

// The link tables.
var (
	ServicePolicyIdentities         = &Link{Name: "service-policy-identities", From: ServicePolicies, To: Identities}
	ServicePolicyServices           = &Link{Name: "service-policy-services", From: ServicePolicies, To: Services}
	ServicePolicyPostureChecks      = &Link{Name: "service-policy-posture-checks", From: ServicePolicies, To: PostureChecks}
	EdgeRouterPolicyIdentities      = &Link{Name: "edge-router-policy-identities", From: EdgeRouterPolicies, To: Identities}
	EdgeRouterPolicyRouters         = &Link{Name: "edge-router-policy-routers", From: EdgeRouterPolicies, To: EdgeRouters}
	ServiceEdgeRouterPolicyServices = &Link{Name: "service-edge-router-policy-services", From: ServiceEdgeRouterPolicies, To: Services}
	ServiceEdgeRouterPolicyRouters  = &Link{Name: "service-edge-router-policy-routers", From: ServiceEdgeRouterPolicies, To: EdgeRouters}
	AllLinks                        = []*Link{ServicePolicyIdentities, ServicePolicyServices, ServicePolicyPostureChecks, EdgeRouterPolicyIdentities, EdgeRouterPolicyRouters, ServiceEdgeRouterPolicyServices, ServiceEdgeRouterPolicyRouters}
)

func (l *Link) fwd() []byte { return []byte("l/" + l.Name) }
func (l *Link) rev() []byte { return []byte("l/" + l.Name + "~") }

// Targets lists the To ids linked from a From id.
func (tx *Tx) Targets(l *Link, from string) []string {
	return prefixScan(tx.bucket(l.fwd()), from)
}

// Sources lists the From ids linked to a To id.
func (tx *Tx) Sources(l *Link, to string) []string {
	return prefixScan(tx.bucket(l.rev()), to)
}

// Linked reports whether from is linked to to.
func (tx *Tx) Linked(l *Link, from, to string) bool {
	return tx.bucket(l.fwd()).Get(pair(from, to)) != nil
}

// AddLink links from to to.
func (tx *Tx) AddLink(l *Link, from, to string) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if err := tx.bucket(l.fwd()).Put(pair(from, to), nil); err != nil {
		return err
	}
	return tx.bucket(l.rev()).Put(pair(to, from), nil)
}

// RemoveLink unlinks from and to.
func (tx *Tx) RemoveLink(l *Link, from, to string) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if err := tx.bucket(l.fwd()).Delete(pair(from, to)); err != nil {
		return err
	}
	return tx.bucket(l.rev()).Delete(pair(to, from))
}

// SetTargets makes the targets of from exactly to, and returns what was added
// and removed.
func (tx *Tx) SetTargets(l *Link, from string, to []string) (added, removed []string, err error) {
	cur := tx.Targets(l, from)
	added, removed = diff(to, cur), diff(cur, to)
	for _, t := range removed {
		if err := tx.RemoveLink(l, from, t); err != nil {
			return nil, nil, err
		}
	}
	for _, t := range added {
		if err := tx.AddLink(l, from, t); err != nil {
			return nil, nil, err
		}
	}
	return added, removed, nil
}

// SetSources makes the sources linked to to exactly from.
func (tx *Tx) SetSources(l *Link, to string, from []string) (added, removed []string, err error) {
	cur := tx.Sources(l, to)
	added, removed = diff(from, cur), diff(cur, from)
	for _, f := range removed {
		if err := tx.RemoveLink(l, f, to); err != nil {
			return nil, nil, err
		}
	}
	for _, f := range added {
		if err := tx.AddLink(l, f, to); err != nil {
			return nil, nil, err
		}
	}
	return added, removed, nil
}
