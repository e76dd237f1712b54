package relay

import (
	"io"
	"time"
)

// CarryDatagrams carries one UDP flow over the stream out: each datagram
// from in is written to out as a frame, and each frame read from out is
// handed to reply. It ends when the flow saw no datagram either way for
// idle, when out fails or ends, when reply fails, or when stop is closed;
// it then closes out. It returns the datagram bytes carried each way.
func CarryDatagrams(out io.ReadWriteCloser, in <-chan []byte, reply func([]byte) error, idle time.Duration, stop <-chan struct{}) (sent, received int64) {
	active := make(chan struct{}, 1)
	back := make(chan struct{})
	go func() {
		defer close(back)
		buf := make([]byte, MaxDatagram)
		for {
			n, err := ReadDatagram(out, buf)
			if err != nil {
				return
			}
			if reply(buf[:n]) != nil {
				return
			}
			received += int64(n)
			select {
			case active <- struct{}{}:
			default:
			}
		}
	}()
	timer := time.NewTimer(idle)
	defer timer.Stop()
loop:
	for {
		select {
		case d := <-in:
			if WriteDatagram(out, d) != nil {
				break loop
			}
			sent += int64(len(d))
			timer.Reset(idle)
		case <-active:
			timer.Reset(idle)
		case <-back:
			break loop
		case <-timer.C:
			break loop
		case <-stop:
			break loop
		}
	}
	_ = out.Close()
	<-back
	return sent, received
}
