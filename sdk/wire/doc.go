// Package wire owns the data-plane wire protocol spoken between SDK clients and edge routers
// (and reused, with its own message types, on the router ⇄ controller control channel).
//
// It implements the framing of the OpenZiti channel (wire version 2, the framing of the
// channel/v4 line) byte for byte, so that existing OpenZiti SDKs and tunnelers interoperate.
// All integers are little-endian:
//
//	magic      4 bytes  03 06 09 0C
//	type       int32    content type
//	sequence   int32    per channel, increasing; Hello (and its result) use -1
//	hdrLen     int32    length of the header block
//	bodyLen    int32    length of the body
//	headers    hdrLen bytes: repeated { key int32, len int32, value[len] }
//	body       bodyLen bytes
//
// A frame starting with 03 06 09 0A instead is the "unknown version" answer of a peer that does
// not speak this framing: a uint32 count and that many uint32 supported versions follow.
//
// The package has four layers:
//
//   - constants for every channel and edge content type, header id, error code and flag;
//   - [Message] and [Headers] with typed accessors and the reply rules of the channel;
//   - encoding ([Message.AppendFrame], [Message.WriteTo]) and a defensive decoder ([Reader])
//     that validates every length against [Limits] before it allocates;
//   - [Conn], a generic request/reply channel over any io.ReadWriteCloser.
//
// Constructors for the edge messages (Hello, Connect, Data, Bind, Dial, ...) live in edge.go;
// they know the headers each message carries but nothing about sessions or policies.
package wire
