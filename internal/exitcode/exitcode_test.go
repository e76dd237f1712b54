package exitcode

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

type statusError int

func (s statusError) Error() string   { return fmt.Sprintf("status %d", int(s)) }
func (s statusError) HTTPStatus() int { return int(s) }

func TestOf(t *testing.T) {
	_, dialErr := net.Dial("tcp", "127.0.0.1:1") // nothing listens on port 1
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, OK},
		{errors.New("boom"), Error},
		{Usagef("bad %s", "flag"), Usage},
		{fmt.Errorf("wrapped: %w", With(NotFound, errors.New("gone"))), NotFound},
		{fmt.Errorf("login: %w", statusError(401)), Unauthorized},
		{statusError(403), Unauthorized},
		{statusError(404), NotFound},
		{statusError(503), Unavailable},
		{statusError(400), Error},
		{fmt.Errorf("authenticate: %w", dialErr), Unavailable},
		{errors.New(`unknown flag: --bogus`), Usage},
		{errors.New(`accepts 1 arg(s), received 2`), Usage},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestRunPrintsOneLineAndMapsTheCode(t *testing.T) {
	newRoot := func() *cobra.Command {
		root := &cobra.Command{Use: "x"}
		root.AddCommand(&cobra.Command{Use: "fail", RunE: func(*cobra.Command, []string) error { return With(NotFound, errors.New("no such thing")) }},
			&cobra.Command{Use: "one", Args: cobra.ExactArgs(1), RunE: func(*cobra.Command, []string) error { return nil }})
		return root
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"fail"}, NotFound, "error: no such thing\n"},
		{[]string{"one", "a", "b"}, Usage, "error: accepts 1 arg(s), received 2\n"},
		{[]string{"one", "--bogus"}, Usage, "error: unknown flag: --bogus\n"},
		{[]string{"nothing"}, Usage, `error: unknown command "nothing" for "x"`},
		{[]string{"one", "a"}, OK, ""},
	} {
		root := newRoot()
		root.SetArgs(tc.args)
		var stderr, stdout bytes.Buffer
		root.SetOut(&stdout)
		code := Run(root, &stderr)
		if code != tc.code || !strings.HasPrefix(stderr.String(), tc.out) || strings.Count(stderr.String(), "error:") > 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.out)
		}
	}
}
