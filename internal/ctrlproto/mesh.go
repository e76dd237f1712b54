package ctrlproto

import "time"

// Messages of the router mesh (links between routers and the circuits across them):
//
//	router → controller   Hello.Link       the router's link listener, if it has one; the
//	                                        controller keeps it on the router's record.
//	controller → router   Sync.Routers      every router: id, name, the fingerprint of its current
//	                      Sync.Terminators  certificate, its link listener; and every terminator of
//	                      Event.Router      every router. Changes follow as Events, so each router
//	                      Event.Terminator  knows whom to link to, whose certificate to accept on a
//	                                        link, and where each service is hosted.
//	router → controller   LinkReport        the router's links with their state and latency, sent
//	                                        when they change (and after each Hello). No reply.
//	controller → router   Topology          the links every router reported, pushed to every router
//	                                        when they change; routers compute paths from it.
//	controller → router   CircuitsRequest   a request; the reply is a Result whose body is Circuits:
//	                                        the circuits that start on the router.
//	controller → router   CircuitClose      a request to close a circuit; the Result fails with
//	                                        "not found" when the router does not hold it.
//	router → controller   CircuitUsage      circuits that started or ended on the router (the one
//	                                        the dialer is attached to), with their byte counts:
//	                                        the controller's circuit events. No reply.
const (
	TypeLinkReport      int32 = 20101
	TypeTopology        int32 = 20102
	TypeCircuitsRequest int32 = 20103
	TypeCircuitClose    int32 = 20104
	TypeCircuitUsage    int32 = 20105
)

// Link states.
const (
	LinkConnected = "connected"
	LinkFailed    = "failed"
)

// LinkListener is where a router accepts links from other routers.
type LinkListener struct {
	// Address is host:port as other routers dial it.
	Address string `json:"address"`
	// Cost is added to the cost of every link to this listener.
	Cost uint16 `json:"cost,omitempty"`
}

// Router is what a router needs to know of another router.
type Router struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Fingerprint is the SHA-1 (hex) of the router's current certificate; a router with none
	// (being re-enrolled) is refused on links.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Link is the router's link listener, nil when it only dials.
	Link     *LinkListener `json:"link,omitempty"`
	Disabled bool          `json:"disabled,omitempty"`
	// NoTraversal keeps paths from crossing the router (it may still start or end them).
	NoTraversal bool `json:"noTraversal,omitempty"`
}

// LinkState is one link as a router reports it.
type LinkState struct {
	ID string `json:"id"`
	// Source dialed the link; Dest accepted it.
	Source string `json:"source"`
	Dest   string `json:"dest"`
	// State is LinkConnected or LinkFailed (a link the source cannot establish).
	State string `json:"state"`
	// LatencyMicros is the last measured round trip (0: not measured yet).
	LatencyMicros int64  `json:"latencyMicros,omitempty"`
	Cost          uint16 `json:"cost,omitempty"`
}

// LinkReport lists a router's links.
type LinkReport struct {
	Links []LinkState `json:"links"`
}

// Topology is every link the routers reported.
type Topology struct {
	Links []LinkState `json:"links"`
}

// Circuit is a circuit as the router it starts on reports it.
type Circuit struct {
	ID         string `json:"id"`
	ServiceID  string `json:"serviceId"`
	IdentityID string `json:"identityId,omitempty"`
	// Path is the ordered list of router ids, from the dialer's router to the host's.
	Path      []string  `json:"path"`
	CreatedAt time.Time `json:"createdAt"`
	// BytesUp went from the dialer towards the host, BytesDown the other way.
	BytesUp   uint64 `json:"bytesUp"`
	BytesDown uint64 `json:"bytesDown"`
}

// Circuits lists circuits.
type Circuits struct {
	Circuits []Circuit `json:"circuits"`
}

// CircuitClose names a circuit to close.
type CircuitClose struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
}

// Circuit usage events.
const (
	CircuitStarted = "started"
	CircuitEnded   = "ended"
)

// MaxCircuitUsage bounds the records of one CircuitUsage message.
const MaxCircuitUsage = 1024

// CircuitRecord is a circuit that started or ended.
type CircuitRecord struct {
	// Event is CircuitStarted or CircuitEnded.
	Event string `json:"event"`
	Circuit
	// HostIdentityID is the identity hosting the terminator the circuit reached.
	HostIdentityID string `json:"hostIdentityId,omitempty"`
	// EndedAt and Reason are set when the circuit ended.
	EndedAt time.Time `json:"endedAt,omitzero"`
	Reason  string    `json:"reason,omitempty"`
}

// CircuitUsage carries circuit records, oldest first.
type CircuitUsage struct {
	Records []CircuitRecord `json:"records"`
}
