package wire

import "strconv"

// Channel content types (the message types of the channel layer itself).
const (
	// ContentTypeHello opens a channel. The client sends it with sequence -1, the client
	// certificate's CN as body and the API-session token in [HeaderSessionToken].
	ContentTypeHello int32 = 0
	// ContentTypePing is a channel-level ping.
	ContentTypePing int32 = 1
	// ContentTypeResult is the generic answer to a request: [HeaderResultSuccess] tells the
	// outcome and the body carries an optional message.
	ContentTypeResult int32 = 2
	// ContentTypeLatency is a latency probe; [HeaderLatencyProbeTime] holds the send time. The
	// peer answers with a Result replying to it.
	ContentTypeLatency int32 = 3
	// ContentTypeLatencyResponse is the dedicated latency answer type (peers of this protocol
	// line answer probes with a Result instead).
	ContentTypeLatencyResponse int32 = 4
	// ContentTypeHeartbeat is a message sent only to carry heartbeat headers.
	ContentTypeHeartbeat int32 = 5
	// ContentTypeRaw carries unframed payload on underlays that support it.
	ContentTypeRaw int32 = 6
)

// Edge content types (the messages of the SDK ⇄ edge router protocol).
const (
	// ContentTypeConnect asks the router to dial a service; body = dial session token.
	ContentTypeConnect int32 = 60783
	// ContentTypeStateConnected confirms a Connect or a Bind (sent as a reply).
	ContentTypeStateConnected int32 = 60784
	// ContentTypeStateClosed ends an edge connection from either side; body = reason.
	ContentTypeStateClosed int32 = 60785
	// ContentTypeData carries payload of an edge connection.
	ContentTypeData int32 = 60786
	// ContentTypeDial is sent by the router to a hosting client for each new circuit.
	ContentTypeDial int32 = 60787
	// ContentTypeDialSuccess answers a Dial; body = the new conn id (uint32 LE).
	ContentTypeDialSuccess int32 = 60788
	// ContentTypeDialFailed answers a Dial that the hosting client refused; body = reason.
	ContentTypeDialFailed int32 = 60789
	// ContentTypeBind registers the client as a terminator (host) of a service.
	ContentTypeBind int32 = 60790
	// ContentTypeUnbind removes the terminator created by a Bind; body = bind session token.
	ContentTypeUnbind int32 = 60791
	// ContentTypeStateSessionEnded tells the client a session it used has ended.
	ContentTypeStateSessionEnded int32 = 60792
	// ContentTypeProbe is an edge-level keep-alive probe.
	ContentTypeProbe int32 = 60793
	// ContentTypeUpdateBind changes cost and precedence of an existing terminator.
	ContentTypeUpdateBind int32 = 60794
	// ContentTypeHealthEvent reports the health of a hosted service.
	ContentTypeHealthEvent int32 = 60795
	// ContentTypeTraceRoute asks for a trace of the path of an edge connection.
	ContentTypeTraceRoute int32 = 60796
	// ContentTypeTraceRouteResponse answers a TraceRoute.
	ContentTypeTraceRouteResponse int32 = 60797
	// ContentTypeConnInspectRequest asks for the state of one edge connection.
	ContentTypeConnInspectRequest int32 = 60798
	// ContentTypeConnInspectResponse answers a ConnInspectRequest.
	ContentTypeConnInspectResponse int32 = 60799
	// ContentTypeBindSuccess tells the client its terminator is registered with the controller.
	ContentTypeBindSuccess int32 = 60800
	// ContentTypeUpdateTokenSuccess accepts an UpdateToken.
	ContentTypeUpdateTokenSuccess int32 = 60801
	// ContentTypeUpdateTokenFailure rejects an UpdateToken; body = reason.
	ContentTypeUpdateTokenFailure int32 = 60802
	// ContentTypeUpdateToken replaces the API-session token of the channel; body = new token.
	ContentTypeUpdateToken int32 = 60803
	// ContentTypeInspectRequest asks the SDK for inspection values.
	ContentTypeInspectRequest int32 = 60804
	// ContentTypeInspectResponse answers an InspectRequest.
	ContentTypeInspectResponse int32 = 60805
	// ContentTypePostureResponse carries posture responses from the SDK.
	ContentTypePostureResponse int32 = 10800
)

// Channel header ids. Ids 0–127 belong to the channel layer; ids 128–255 of a request are
// copied into its reply (see [Message.ReplyTo]).
const (
	// HeaderConnectionID (string) is the channel's connection id, sent by the router in its
	// Hello result. Not to be confused with the edge [HeaderConnID].
	HeaderConnectionID int32 = 0
	// HeaderReplyFor (int32) is the sequence of the request a message answers.
	HeaderReplyFor int32 = 1
	// HeaderResultSuccess (bool) tells whether a Result reports success.
	HeaderResultSuccess int32 = 2
	// HeaderHelloVersion (string) carries "version|revision|buildDate|os|arch" in a Hello or
	// its result.
	HeaderHelloVersion int32 = 4
	// HeaderHeartbeat (uint64, UnixNano) asks the peer for a heartbeat response.
	HeaderHeartbeat int32 = 5
	// HeaderHeartbeatResponse (uint64, UnixNano) echoes a received heartbeat.
	HeaderHeartbeatResponse int32 = 6
	// HeaderType (string) is the channel type in a Hello.
	HeaderType int32 = 7
	// HeaderID (string) is the id of the sender (the router id in the Hello result).
	HeaderID int32 = 8
	// HeaderIsGrouped (bool) marks a channel that is part of a group of underlays.
	HeaderIsGrouped int32 = 9
	// HeaderGroupSecret (bytes) authenticates an underlay joining a group.
	HeaderGroupSecret int32 = 10
	// HeaderIsFirstGroupConnection (bool) marks the first underlay of a group.
	HeaderIsFirstGroupConnection int32 = 11

	// ReflectedHeaderMin is the lowest header id copied from a request into its reply.
	ReflectedHeaderMin int32 = 128
	// ReflectedHeaderMax is the highest header id copied from a request into its reply.
	ReflectedHeaderMax int32 = 255

	// HeaderLatencyProbeTime (uint64, UnixNano) is the send time of a latency probe. It lies in
	// the reflected range, so the answer carries it back.
	HeaderLatencyProbeTime int32 = 128
)

// Edge header ids.
const (
	// HeaderUUID (bytes) is a message UUID used for tracing; reflected into replies.
	HeaderUUID int32 = 128
	// HeaderConnID (uint32) is the edge connection id a message belongs to.
	HeaderConnID int32 = 1000
	// HeaderSeq (uint32) is the per-edge-connection sequence of a Data message.
	HeaderSeq int32 = 1001
	// HeaderSessionToken (string) is the API-session token in a client Hello.
	HeaderSessionToken int32 = 1002
	// HeaderPublicKey (bytes) is an X25519 public key for end-to-end encryption.
	HeaderPublicKey int32 = 1003
	// HeaderCost (uint16) is the terminator cost in Bind and UpdateBind.
	HeaderCost int32 = 1004
	// HeaderPrecedence (byte, see [Precedence]) is the terminator precedence.
	HeaderPrecedence int32 = 1005
	// HeaderTerminatorIdentity (string) names a terminator (addressable terminators).
	HeaderTerminatorIdentity int32 = 1006
	// HeaderTerminatorIdentitySecret (string) proves the right to use a terminator identity.
	HeaderTerminatorIdentitySecret int32 = 1007
	// HeaderCallerID (string) is the identity of the dialing side.
	HeaderCallerID int32 = 1008
	// HeaderCryptoMethod (byte, see [CryptoMethod]) names the end-to-end encryption scheme.
	HeaderCryptoMethod int32 = 1009
	// HeaderFlags (uint32) holds the Flag* bits of a Data message or a connection.
	HeaderFlags int32 = 1010
	// HeaderAppData (bytes) is application data passed from dialer to host.
	HeaderAppData int32 = 1011
	// HeaderRouterProvidedConnID is a bool in Bind (the client lets the router choose conn
	// ids) and a uint32 in Dial (the conn id the router chose for the new circuit).
	HeaderRouterProvidedConnID int32 = 1012
	// HeaderHealthStatus (bool) is the outcome of a health check in a HealthEvent.
	HeaderHealthStatus int32 = 1013
	// HeaderErrorCode (uint32, see ErrorCode*) classifies a failure.
	HeaderErrorCode int32 = 1014
	// HeaderTimestamp (uint64) is a timestamp (trace route).
	HeaderTimestamp int32 = 1015
	// HeaderListenerID (string) identifies a listener of a hosting client.
	HeaderListenerID int32 = 1021
	// HeaderConnType (byte) is the kind of an inspected connection.
	HeaderConnType int32 = 1022
	// HeaderSupportsInspect (bool) announces support for inspect requests.
	HeaderSupportsInspect int32 = 1023
	// HeaderSupportsBindSuccess (bool) announces support for BindSuccess messages.
	HeaderSupportsBindSuccess int32 = 1024
	// HeaderConnectionMarker (string) marks a circuit for correlation across hops.
	HeaderConnectionMarker int32 = 1025
	// HeaderCircuitID (string) is the id of the circuit carrying an edge connection.
	HeaderCircuitID int32 = 1026
	// HeaderStickinessToken (bytes) lets a dialer return to the same terminator.
	HeaderStickinessToken int32 = 1027
	// HeaderUseXgressToSdk (bool) asks for router-side flow control towards the SDK.
	HeaderUseXgressToSdk int32 = 1028
	// HeaderSupportsPostureChecks (bool) announces support for posture checks over the channel.
	HeaderSupportsPostureChecks int32 = 1032
)

// Flag bits of [HeaderFlags].
const (
	// FlagFIN half-closes an edge connection: the sender will write no more data.
	FlagFIN uint32 = 1
	// FlagTraceUUID announces Data messages carrying specially built [HeaderUUID] values.
	FlagTraceUUID uint32 = 2
	// FlagMultipart announces that the sender accepts multipart Data messages.
	FlagMultipart uint32 = 4
	// FlagStream marks a connection with stream semantics (payloads may be coalesced).
	FlagStream uint32 = 8
	// FlagMultipartMsg marks a Data message whose body is a multipart body
	// (see [DecodeMultipart]).
	FlagMultipartMsg uint32 = 16
)

// Error codes carried in [HeaderErrorCode].
const (
	// ErrorCodeInternal is an unexpected failure in the router.
	ErrorCodeInternal uint32 = 1
	// ErrorCodeInvalidAPISession means the API session is unknown or expired.
	ErrorCodeInvalidAPISession uint32 = 2
	// ErrorCodeInvalidSession means the (dial or bind) session is unknown or expired.
	ErrorCodeInvalidSession uint32 = 3
	// ErrorCodeWrongSessionType means a dial session was used to bind or the reverse.
	ErrorCodeWrongSessionType uint32 = 4
	// ErrorCodeInvalidEdgeRouterForSession means the session may not use this router.
	ErrorCodeInvalidEdgeRouterForSession uint32 = 5
	// ErrorCodeInvalidService means the service does not exist or is not accessible.
	ErrorCodeInvalidService uint32 = 6
	// ErrorCodeTunnelingNotEnabled means the router does not tunnel.
	ErrorCodeTunnelingNotEnabled uint32 = 7
	// ErrorCodeInvalidTerminator means no usable terminator was found.
	ErrorCodeInvalidTerminator uint32 = 8
	// ErrorCodeInvalidPrecedence means the requested precedence is not valid.
	ErrorCodeInvalidPrecedence uint32 = 9
	// ErrorCodeInvalidCost means the requested cost is not valid.
	ErrorCodeInvalidCost uint32 = 10
	// ErrorCodeEncryptionDataMissing means the service requires encryption and no public key
	// was sent.
	ErrorCodeEncryptionDataMissing uint32 = 11
	// ErrorCodeRouterShuttingDown is Ostium's own: the router is stopping. It refuses new
	// Connects and Binds with it, and ends the bindings of its hosts with it (a StateClosed on
	// the listener's conn id) while their connections finish: clients bind and dial through
	// another router, and through this one once it is back. Clients that do not know the
	// code see an ordinary refusal, or a binding to make again.
	ErrorCodeRouterShuttingDown uint32 = 1000
)

// Precedence of a terminator, carried as one byte in [HeaderPrecedence].
type Precedence byte

// Terminator precedences.
const (
	// PrecedenceDefault is an ordinary terminator.
	PrecedenceDefault Precedence = 0
	// PrecedenceRequired is preferred over default terminators.
	PrecedenceRequired Precedence = 1
	// PrecedenceFailed is used only when no other terminator is available.
	PrecedenceFailed Precedence = 2
)

// CryptoMethod names the end-to-end encryption scheme, carried as one byte in
// [HeaderCryptoMethod].
type CryptoMethod byte

// CryptoMethodLibsodium is X25519 key exchange (crypto_kx) with
// crypto_secretstream_xchacha20poly1305.
const CryptoMethodLibsodium CryptoMethod = 0

var contentTypeNames = map[int32]string{
	ContentTypeHello:               "Hello",
	ContentTypePing:                "Ping",
	ContentTypeResult:              "Result",
	ContentTypeLatency:             "Latency",
	ContentTypeLatencyResponse:     "LatencyResponse",
	ContentTypeHeartbeat:           "Heartbeat",
	ContentTypeRaw:                 "Raw",
	ContentTypeConnect:             "Connect",
	ContentTypeStateConnected:      "StateConnected",
	ContentTypeStateClosed:         "StateClosed",
	ContentTypeData:                "Data",
	ContentTypeDial:                "Dial",
	ContentTypeDialSuccess:         "DialSuccess",
	ContentTypeDialFailed:          "DialFailed",
	ContentTypeBind:                "Bind",
	ContentTypeUnbind:              "Unbind",
	ContentTypeStateSessionEnded:   "StateSessionEnded",
	ContentTypeProbe:               "Probe",
	ContentTypeUpdateBind:          "UpdateBind",
	ContentTypeHealthEvent:         "HealthEvent",
	ContentTypeTraceRoute:          "TraceRoute",
	ContentTypeTraceRouteResponse:  "TraceRouteResponse",
	ContentTypeConnInspectRequest:  "ConnInspectRequest",
	ContentTypeConnInspectResponse: "ConnInspectResponse",
	ContentTypeBindSuccess:         "BindSuccess",
	ContentTypeUpdateTokenSuccess:  "UpdateTokenSuccess",
	ContentTypeUpdateTokenFailure:  "UpdateTokenFailure",
	ContentTypeUpdateToken:         "UpdateToken",
	ContentTypeInspectRequest:      "InspectRequest",
	ContentTypeInspectResponse:     "InspectResponse",
	ContentTypePostureResponse:     "PostureResponse",
}

// ContentTypeName returns the name of a known content type, or "ContentType(n)".
func ContentTypeName(contentType int32) string {
	if name, ok := contentTypeNames[contentType]; ok {
		return name
	}
	return "ContentType(" + strconv.FormatInt(int64(contentType), 10) + ")"
}
