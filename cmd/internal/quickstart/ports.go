package quickstart

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// portUse is one address the quickstart listens on, with the flag that moves it.
type portUse struct {
	addr, what, flag string
}

func (o *Options) ports() []portUse {
	ports := []portUse{
		{o.APIAddr, "the controller's API", "--api"},
		{o.EdgeAddr, "the edge router", "--edge"},
		{o.RouterCtlAddr, "the routers' control channels", "--router-control"},
		{o.ClusterAddr, "the controller cluster", "--cluster"},
	}
	if o.OpsAddr != "" {
		ports = append(ports, portUse{o.OpsAddr, "metrics and health", "--ops"})
	}
	return ports
}

// PortInUseError is an address the quickstart needs and something else holds.
type PortInUseError struct {
	Addr string
	// What the quickstart serves there, and the flag that moves it.
	What, Flag string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("%s is in use, and the quickstart serves %s there: stop what holds it (another quickstart?) or move it with %s HOST:PORT",
		e.Addr, e.What, e.Flag)
}

// checkPorts tries every fixed address before anything is created, so that
// a busy port is named with its flag and nothing is left half made. Port 0
// (any free port) needs no check.
func (o *Options) checkPorts() error {
	for _, p := range o.ports() {
		if _, port, err := net.SplitHostPort(p.addr); err == nil && port == "0" {
			continue
		}
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return o.portError(p, err)
		}
		_ = ln.Close()
	}
	return nil
}

// portError names the flag of p when err is "address in use".
func (o *Options) portError(p portUse, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return &PortInUseError{Addr: p.addr, What: p.what, Flag: p.flag}
	}
	return fmt.Errorf("quickstart: listen on %s (%s, %s): %w", p.addr, p.what, p.flag, err)
}

// explainListenError turns an "address in use" met after the check (a race
// with another program) into a PortInUseError when it names one of the
// quickstart's addresses.
func (o *Options) explainListenError(err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		for _, p := range o.ports() {
			if p.addr == oe.Addr.String() {
				return &PortInUseError{Addr: p.addr, What: p.what, Flag: p.flag}
			}
		}
	}
	return err
}
