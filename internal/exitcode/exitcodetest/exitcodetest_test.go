package exitcodetest

import (
	"errors"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/internal/exitcode"
)

// recorder is a testing.TB that keeps the failures Check reports.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, format)
}

func TestCheckReportsWrongCodesAndWords(t *testing.T) {
	newRoot := func() *cobra.Command {
		root := &cobra.Command{Use: "demo", SilenceUsage: true, SilenceErrors: true}
		root.AddCommand(&cobra.Command{Use: "fail", RunE: func(*cobra.Command, []string) error { return errors.New("the disk is full") }})
		return root
	}
	good := []Case{{[]string{"fail"}, exitcode.Error, "disk is full"}, {[]string{"nope"}, exitcode.Usage, "unknown command"}}
	r := &recorder{TB: t}
	Check(r, "demo", newRoot, good)
	if len(r.failures) != 0 {
		t.Fatalf("matching cases reported: %v", r.failures)
	}
	bad := []Case{{[]string{"fail"}, exitcode.Usage, "disk is full"}, {[]string{"fail"}, exitcode.Error, "network"}}
	r = &recorder{TB: t}
	Check(r, "demo", newRoot, bad)
	if len(r.failures) != 2 {
		t.Fatalf("%d failures reported for 2 wrong cases", len(r.failures))
	}
}
