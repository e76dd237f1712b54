package state

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// randomNetwork draws identities whose names and attributes share pieces, so
// that filters on them match some records, many or none.
type randomNetwork struct {
	rng   *rand.Rand
	next  int
	ids   []string
	names []string // of the stored identities
}

var (
	namePieces = []string{"ab", "Cd", "ef", "x", "yz", "é", "-", "Ab"}
	attrPool   = []string{"red", "green", "blue", "Red", "ops", "ops-eu", "x", "é"}
)

func (n *randomNetwork) name() string {
	if n.rng.IntN(20) == 0 {
		return "" // not in the name index: sorts first
	}
	var b strings.Builder
	for range 1 + n.rng.IntN(3) {
		b.WriteString(namePieces[n.rng.IntN(len(namePieces))])
	}
	fmt.Fprintf(&b, "%d", n.rng.IntN(5000))
	return b.String()
}

func (n *randomNetwork) attrs() []string {
	var out []string
	for range n.rng.IntN(4) {
		out = append(out, attrPool[n.rng.IntN(len(attrPool))])
	}
	return out
}

func (n *randomNetwork) identity() *store.Identity {
	n.next++
	id := fmt.Sprintf("id%05d", n.rng.IntN(100000))
	i := ident(id, n.name(), n.attrs()...)
	i.IsAdmin = n.rng.IntN(4) == 0
	if n.rng.IntN(2) == 0 {
		i.Type = "User"
	}
	return i
}

func (n *randomNetwork) pick() string { return n.ids[n.rng.IntN(len(n.ids))] }

func (n *randomNetwork) str() string {
	switch n.rng.IntN(12) {
	case 0, 1, 2:
		return namePieces[n.rng.IntN(len(namePieces))]
	case 3:
		return strings.ToUpper(namePieces[n.rng.IntN(len(namePieces))])
	case 4, 5, 6:
		return attrPool[n.rng.IntN(len(attrPool))]
	case 7:
		return strings.ToUpper(attrPool[n.rng.IntN(len(attrPool))])
	case 8:
		return fmt.Sprint(n.rng.IntN(10))
	case 9:
		return ""
	}
	return n.names[n.rng.IntN(len(n.names))]
}

// term is one random comparison, indexed or not.
func (n *randomNetwork) term() string {
	s := func() string { return fmt.Sprintf("%q", n.str()) }
	list := func() string { return fmt.Sprintf("[%q, %q]", n.str(), n.str()) }
	ops := []string{"=", "contains", "icontains", "startsWith", "endsWith", "!=", "not contains"}
	op := ops[n.rng.IntN(len(ops))]
	switch n.rng.IntN(12) {
	case 11:
		// Case folding, where names and attributes differ in case.
		if n.rng.IntN(2) == 0 {
			return fmt.Sprintf("name icontains %q", strings.ToUpper(namePieces[n.rng.IntN(len(namePieces))]))
		}
		return fmt.Sprintf("roleAttributes icontains %q", strings.ToUpper(attrPool[n.rng.IntN(len(attrPool))]))
	case 0, 1:
		return "name " + op + " " + s()
	case 2:
		return "name in " + list()
	case 3, 4:
		return "roleAttributes " + op + " " + s()
	case 5:
		return "anyOf(roleAttributes) " + op + " " + s()
	case 6:
		return "roleAttributes in " + list()
	case 7:
		return fmt.Sprintf("id = %q", n.pick())
	case 8:
		return fmt.Sprintf("id in [%q, %q]", n.pick(), n.pick())
	case 9:
		return []string{"isAdmin = true", `type = "User"`, "isEmpty(roleAttributes)", `allOf(roleAttributes) = "red"`,
			`name = null`, `id contains "1"`}[n.rng.IntN(6)]
	}
	return fmt.Sprintf("count(roleAttributes) > %d", n.rng.IntN(3))
}

func (n *randomNetwork) predicate(depth int) string {
	if depth == 0 || n.rng.IntN(3) == 0 {
		return n.term()
	}
	switch n.rng.IntN(4) {
	case 0:
		return "not (" + n.predicate(depth-1) + ")"
	case 1:
		return "(" + n.predicate(depth-1) + ") or (" + n.predicate(depth-1) + ")"
	}
	return "(" + n.predicate(depth-1) + ") and (" + n.predicate(depth-1) + ")"
}

func (n *randomNetwork) query() string {
	q := ""
	if n.rng.IntN(8) != 0 {
		q = n.predicate(n.rng.IntN(3))
	}
	sorts := []string{"", "sort by name", "sort by name desc", "sort by name, id desc", "sort by type, name desc",
		"sort by id desc", "sort by createdAt desc", "sort by name desc, isAdmin"}
	if s := sorts[n.rng.IntN(len(sorts))]; s != "" {
		q += " " + s
	}
	if n.rng.IntN(3) == 0 {
		q += fmt.Sprintf(" skip %d", n.rng.IntN(30))
	}
	return strings.TrimSpace(q + fmt.Sprintf(" limit %d", 1+n.rng.IntN(60)))
}

// TestIndexedListsMatchTheScan writes random identities, renames, re-tags
// and deletes them, and after each round lists with random filters, sorts
// and pages, through the indexes and through the scan: the pages and the
// counts must be the same.
func TestIndexedListsMatchTheScan(t *testing.T) {
	defer func(n int) { byNameIndexAbove = n }(byNameIndexAbove)
	byNameIndexAbove = 20 // walk the name index to sort even small lists
	f := newFixture(t)
	n := &randomNetwork{rng: rand.New(rand.NewPCG(14, 2026))}
	var cmds []command.Command
	for range 1500 {
		cmds = append(cmds, create(t, store.Identities, n.identity()))
	}
	for _, err := range f.apply(cmds...) {
		_ = err // a name or id drawn twice is refused; the rest land
	}
	refresh := func() {
		n.ids = nil
		n.names = nil
		_ = f.st.View(func(tx *store.Tx) error {
			n.ids = tx.IDs(store.Identities)
			return tx.ForEach(store.Identities, func(r store.Record) error {
				n.names = append(n.names, r.(*store.Identity).Name)
				return nil
			})
		})
	}
	refresh()
	t.Logf("%d identities", len(n.ids))
	indexed, found := 0, 0
	for round := range 6 {
		cmds = cmds[:0]
		for range 40 {
			switch n.rng.IntN(4) {
			case 0:
				cmds = append(cmds, create(t, store.Identities, n.identity()))
			case 1:
				cmds = append(cmds, &command.DeleteEntity{Kind: store.Identities.Name, ID: n.pick()})
			default:
				name, attrs := n.name(), n.attrs()
				renames := n.rng.IntN(2) == 0
				cmds = append(cmds, f.update(store.Identities, n.pick(), func(r store.Record) {
					if renames {
						r.(*store.Identity).Name = name
					}
					r.(*store.Identity).RoleAttributes = attrs
				}))
			}
		}
		// Half the round in one batch, half one entry each.
		var entries []store.Entry
		for _, c := range cmds[:20] {
			entries = append(entries, f.entry(c))
		}
		f.st.ApplyBatch(entries)
		f.apply(cmds[20:]...)
		refresh()
		for range 25 {
			src := n.query()
			if f.planned(store.Identities, src) {
				indexed++
			}
			// A third of the lists are restricted to some ids, as related
			// lists are (the services an identity may use, say).
			var only []string
			if n.rng.IntN(3) == 0 {
				only = []string{}
				for range n.rng.IntN(2 * len(n.ids)) {
					only = append(only, n.pick())
				}
			}
			if page, _ := f.listOnly(store.Identities, src, only); len(page) > 0 {
				found++
			}
		}
		t.Logf("round %d: %d identities", round, len(n.ids))
	}
	t.Logf("%d of 150 random filters used the indexes, %d listed something", indexed, found)
	if indexed < 50 || found < 50 {
		t.Errorf("only %d of 150 random filters used the indexes and %d listed something", indexed, found)
	}
}
