package posture

import (
	"strconv"
	"strings"
)

// VersionSatisfies reports whether an operating-system version meets an
// allowed-version entry of an OS check. An entry is one or more
// alternatives separated by "||"; an alternative is a space-separated list
// of comparisons that must all hold: ">=10.0.19041", "<11", "=10.0.1",
// "!=10.0.2". A bare version ("10.0") matches that version and every version
// it is a dotted prefix of ("10.0.19041"). Versions compare numerically,
// component by component, a missing component counting as 0; a component
// that is not a number compares as text. Text after '-' or '+' (pre-release,
// build metadata) is ignored. An empty entry matches nothing.
func VersionSatisfies(version, constraint string) bool {
	version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(version), "v"))
	if version == "" {
		return false
	}
	for _, alt := range strings.Split(constraint, "||") {
		terms := strings.Fields(alt)
		if len(terms) == 0 {
			continue
		}
		all := true
		for _, term := range terms {
			if !termHolds(version, term) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func termHolds(version, term string) bool {
	op := ""
	for _, candidate := range []string{">=", "<=", "!=", "==", ">", "<", "=", "~", "^"} {
		if strings.HasPrefix(term, candidate) {
			op, term = candidate, term[len(candidate):]
			break
		}
	}
	want := strings.TrimPrefix(strings.TrimSpace(term), "v")
	if want == "" {
		return false
	}
	c := compareVersions(version, want)
	switch op {
	case ">=":
		return c >= 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case "<":
		return c < 0
	case "!=":
		return c != 0
	case "=", "==":
		return c == 0
	case "~", "^":
		// Same leading component (^) or leading two (~), and not older.
		keep := 1
		if op == "~" {
			keep = 2
		}
		return c >= 0 && samePrefix(version, want, keep)
	}
	return c == 0 || hasDottedPrefix(version, want)
}

func components(v string) []string {
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	return strings.Split(v, ".")
}

// compareVersions returns -1, 0 or 1 as a is older than, the same as or
// newer than b.
func compareVersions(a, b string) int {
	ac, bc := components(a), components(b)
	for i := 0; i < max(len(ac), len(bc)); i++ {
		x, y := "0", "0"
		if i < len(ac) {
			x = ac[i]
		}
		if i < len(bc) {
			y = bc[i]
		}
		if c := compareComponent(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func compareComponent(x, y string) int {
	xn, xerr := strconv.ParseUint(x, 10, 64)
	yn, yerr := strconv.ParseUint(y, 10, 64)
	switch {
	case xerr == nil && yerr == nil:
		switch {
		case xn < yn:
			return -1
		case xn > yn:
			return 1
		}
		return 0
	case xerr == nil:
		// Numbers sort before text.
		return -1
	case yerr == nil:
		return 1
	}
	return strings.Compare(strings.ToLower(x), strings.ToLower(y))
}

func hasDottedPrefix(version, prefix string) bool {
	vc, pc := components(version), components(prefix)
	if len(pc) > len(vc) {
		return false
	}
	for i := range pc {
		if compareComponent(vc[i], pc[i]) != 0 {
			return false
		}
	}
	return true
}

func samePrefix(a, b string, n int) bool {
	ac, bc := components(a), components(b)
	for i := 0; i < n; i++ {
		x, y := "0", "0"
		if i < len(ac) {
			x = ac[i]
		}
		if i < len(bc) {
			y = bc[i]
		}
		if compareComponent(x, y) != 0 {
			return false
		}
	}
	return true
}
