// Package sockq tells whether a TCP connection's send queue is empty, so that a goroutine can
// write a small frame itself, knowing the write cannot wait on the peer, instead of handing it
// to a writer goroutine. Outside Linux there is no probe and every write takes the writer.
package sockq
