package mongoproxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The parts of the MongoDB wire protocol the proxy looks at
// (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/).
const (
	headerLen = 16         // messageLength, requestID, responseTo, opCode: int32 each
	maxLen    = 48_000_000 // maxMessageSizeBytes, as MongoDB and FerretDB announce it

	opQuery = 2004 // legacy; drivers still open each connection with an isMaster in it
	opMsg   = 2013

	flagChecksumPresent = 1 << 0
	flagMoreToCome      = 1 << 1
	flagExhaustAllowed  = 1 << 16
)

// A message is one whole wire-protocol message, header included.
type message []byte

// readMessage reads one message, refusing a length the protocol does not
// allow rather than allocating it.
func readMessage(r io.Reader) (message, error) {
	var header [headerLen]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	n := int32(binary.LittleEndian.Uint32(header[:4]))
	if n < headerLen || n > maxLen {
		return nil, fmt.Errorf("message length %d out of range", n)
	}
	m := make(message, n)
	copy(m, header[:])
	if _, err := io.ReadFull(r, m[headerLen:]); err != nil {
		return nil, fmt.Errorf("read message of %d bytes: %w", n, err)
	}
	return m, nil
}

func (m message) opCode() int32 {
	return int32(binary.LittleEndian.Uint32(m[12:16]))
}

// msgFlags returns the flag bits of an OP_MSG, and 0 for any other message.
func (m message) msgFlags() uint32 {
	if m.opCode() != opMsg || len(m) < headerLen+4 {
		return 0
	}
	return binary.LittleEndian.Uint32(m[headerLen:])
}

// moreToCome reports whether the sender of an OP_MSG will send another
// message without waiting for an answer: a request that wants no reply, or a
// reply that is followed by more replies (an exhaust stream).
func (m message) moreToCome() bool {
	return m.msgFlags()&flagMoreToCome != 0
}

// serialized reports whether the request must run alone. Everything does but
// handshakes, pings and exhaust requests, whose replies may stream; a request
// the proxy cannot read (OP_COMPRESSED, say) runs alone to be safe.
func (m message) serialized() bool {
	if m.msgFlags()&flagExhaustAllowed != 0 {
		return false
	}
	switch m.command() {
	case "hello", "isMaster", "ismaster", "ping":
		return false
	}
	return true
}

// command returns the name of the command in a request: the first key of an
// OP_MSG's body document or of an OP_QUERY's query document. It returns ""
// if the request is neither or is malformed.
func (m message) command() string {
	switch m.opCode() {
	case opMsg:
		return msgCommand(m)
	case opQuery:
		return queryCommand(m)
	}
	return ""
}

func msgCommand(m message) string {
	return firstKey(msgBody(m))
}

// msgBody finds the body (kind 0) section among an OP_MSG's sections:
// flagBits, then sections of a kind byte and a document (kind 0) or a
// sequence of documents prefixed by its int32 size (kind 1), then an
// optional checksum. It returns nil if there is none or m is malformed.
func msgBody(m message) []byte {
	if m.opCode() != opMsg || len(m) < headerLen+4 {
		return nil
	}
	sections := m[headerLen+4:]
	if m.msgFlags()&flagChecksumPresent != 0 {
		if len(sections) < 4 {
			return nil
		}
		sections = sections[:len(sections)-4]
	}
	for len(sections) >= 5 {
		kind, body := sections[0], sections[1:]
		size := int(int32(binary.LittleEndian.Uint32(body)))
		if size < 5 || size > len(body) {
			return nil
		}
		switch kind {
		case 0:
			return body[:size]
		case 1:
			sections = body[size:]
		default:
			return nil
		}
	}
	return nil
}

// target returns the database ($db) and the collection an OP_MSG command
// names (the value of its first element, when that is a string).
func (m message) target() (db, collection string) {
	body := bson.Raw(msgBody(m))
	if body == nil || body.Validate() != nil {
		return "", ""
	}
	db, _ = body.Lookup("$db").StringValueOK()
	if first, err := body.IndexErr(0); err == nil {
		collection, _ = first.Value().StringValueOK()
	}
	return db, collection
}

// queryCommand reads an OP_QUERY: flags, the collection's name as a C
// string, numberToSkip and numberToReturn, then the query document.
func queryCommand(m message) string {
	if len(m) < headerLen+4 {
		return ""
	}
	rest := m[headerLen+4:]
	end := bytes.IndexByte(rest, 0)
	if end < 0 || len(rest) < end+1+8 {
		return ""
	}
	return firstKey(rest[end+1+8:])
}

// firstKey returns the name of a BSON document's first element: after the
// document's int32 length comes the element's type byte, then its name as a
// C string. An empty document has none.
func firstKey(doc []byte) string {
	if len(doc) < 6 || doc[4] == 0 {
		return ""
	}
	name := doc[5:]
	end := bytes.IndexByte(name, 0)
	if end < 0 {
		return ""
	}
	return string(name[:end])
}
