//go:build soak

package ha

import "testing"

// TestSoakLinearizableThroughLeaderKillsAndPartitions runs the nemesis cycle
// (SIGKILL of the leader, partition of the leader, partition of a follower)
// ten times under the same workload (make soak).
func TestSoakLinearizableThroughLeaderKillsAndPartitions(t *testing.T) {
	runJepsen(t, 10)
}
