//go:build !linux

package tproxy

import (
	"errors"
	"net"
)

func listenTransparent(string) (net.Listener, error) {
	return nil, errors.New("transparent proxying needs Linux")
}
