// Package ha tests a controller cluster the way Jepsen tests databases:
// three controllers as separate processes, clients reading and writing
// through every one of them, the leader killed with SIGKILL and cut off by a
// fault-injecting proxy on the cluster port, and the recorded history
// checked for linearizability with porcupine. It also measures how long
// writes stop when a leader dies.
package ha
