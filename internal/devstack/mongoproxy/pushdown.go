package mongoproxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// FerretDB v1's SQLite backend hands SQLite a filter only when the filter
// is exactly {_id: <string or ObjectID>}; any other filter reads the whole
// collection and matches each document in Go. The project's writes are
// conditional: {_id, version} and the like, so each cost in proportion to
// its collection, and under the proxy's lock every request waited for it
// (bench/load.md).
//
// Because the proxy runs each command alone, it can split such a command in
// two without any other command coming between: it first asks FerretDB
// whether the one document of that _id matches the whole filter, with an
// aggregation whose first $match is {_id} (which FerretDB hands SQLite) and
// whose second is the filter (which FerretDB matches as it would have);
// then it sends the command with its filter narrowed to {_id: v} if the
// document matched, or to an _id that no document has if it did not. Either
// way the command does what it would have done, and reads one document.
//
// Only commands of one filter are narrowed: find, findAndModify, and update
// and delete of a single statement (a later statement could see what an
// earlier one changed). An upsert that matches nothing is sent as it came,
// since what it inserts comes from its filter.

// noMatch is the _id of no document: a narrowed command whose filter
// matched nothing looks for it.
const noMatch = "mongoproxy: no document has this _id"

var errRefused = errors.New("mongoproxy: the server refused the filter")

// section is one section of an OP_MSG: its kind byte and its bytes after
// it. A kind 1 section's identifier names the document sequence it carries.
type section struct {
	kind       byte
	payload    []byte
	identifier string
	docs       []bsoncore.Document // kind 1
}

// parseMsg splits an OP_MSG into its sections; ok is false if m is not an
// OP_MSG the proxy can rewrite (it carries a checksum, or is malformed).
func parseMsg(m message) (sections []section, ok bool) {
	if m.opCode() != opMsg || len(m) < headerLen+4 || m.msgFlags()&(flagChecksumPresent|flagMoreToCome|flagExhaustAllowed) != 0 {
		return nil, false
	}
	rest := m[headerLen+4:]
	for len(rest) > 0 {
		if len(rest) < 5 {
			return nil, false
		}
		kind, body := rest[0], rest[1:]
		size := int(int32(binary.LittleEndian.Uint32(body)))
		if size < 5 || size > len(body) {
			return nil, false
		}
		s := section{kind: kind, payload: body[:size]}
		switch kind {
		case 0:
			if bsoncore.Document(s.payload).Validate() != nil {
				return nil, false
			}
		case 1:
			id, docs, ok := bsoncore.ReadKey(s.payload[4:])
			if !ok {
				return nil, false
			}
			s.identifier = id
			for len(docs) > 0 {
				doc, more, ok := bsoncore.ReadDocument(docs)
				if !ok || doc.Validate() != nil {
					return nil, false
				}
				s.docs, docs = append(s.docs, doc), more
			}
		default:
			return nil, false
		}
		sections = append(sections, s)
		rest = body[size:]
	}
	return sections, len(sections) > 0 && sections[0].kind == 0
}

// buildMsg makes an OP_MSG of header's requestID, responseTo and flags.
func buildMsg(header message, sections []section) message {
	m := make(message, headerLen+4, len(header))
	copy(m, header[:headerLen+4])
	for _, s := range sections {
		m = append(m, s.kind)
		m = append(m, s.payload...)
	}
	binary.LittleEndian.PutUint32(m, uint32(len(m)))
	return m
}

// statement is where a command keeps its one filter.
type statement struct {
	docs   []bsoncore.Document // the one statement of the command, or its body
	key    string              // the filter's key in it
	upsert bool
}

// findStatement finds the filter of a command the proxy may narrow.
func findStatement(sections []section) (st statement, sequence int, ok bool) {
	body := bsoncore.Document(sections[0].payload)
	first, err := body.IndexErr(0)
	if err != nil {
		return st, 0, false
	}
	statements := func(name string) (statement, int, bool) {
		for i, s := range sections {
			if s.kind == 1 && s.identifier == name {
				if len(s.docs) != 1 {
					return st, 0, false
				}
				return statement{docs: s.docs, key: "q", upsert: boolean(s.docs[0], "upsert")}, i, true
			}
		}
		arr, ok := body.Lookup(name).ArrayOK()
		if !ok {
			return st, 0, false
		}
		values, err := arr.Values()
		if err != nil || len(values) != 1 {
			return st, 0, false
		}
		doc, ok := values[0].DocumentOK()
		if !ok {
			return st, 0, false
		}
		return statement{docs: []bsoncore.Document{doc}, key: "q", upsert: boolean(doc, "upsert")}, -1, true
	}
	switch first.Key() {
	case "find":
		return statement{docs: []bsoncore.Document{body}, key: "filter"}, 0, true
	case "findAndModify", "findandmodify":
		return statement{docs: []bsoncore.Document{body}, key: "query", upsert: boolean(body, "upsert")}, 0, true
	case "update":
		return statements("updates")
	case "delete":
		return statements("deletes")
	}
	return st, 0, false
}

func boolean(doc bsoncore.Document, key string) bool {
	b, _ := doc.Lookup(key).BooleanOK()
	return b
}

// idOf returns the _id a filter pins down, when FerretDB would not hand the
// filter to SQLite as it is: {_id: v, ...more}, {_id: {$eq: v}, ...} or
// {_id: {$in: [v]}, ...}, with v a string or an ObjectID.
func idOf(filter bsoncore.Document) (bsoncore.Value, bool) {
	elems, err := filter.Elements()
	if err != nil {
		return bsoncore.Value{}, false
	}
	for _, e := range elems {
		if e.Key() != "_id" {
			continue
		}
		v := e.Value()
		if pinned(v) {
			return v, len(elems) > 1
		}
		op, ok := v.DocumentOK()
		if !ok {
			return bsoncore.Value{}, false
		}
		ops, err := op.Elements()
		if err != nil || len(ops) != 1 {
			return bsoncore.Value{}, false
		}
		switch ops[0].Key() {
		case "$eq":
			return ops[0].Value(), pinned(ops[0].Value())
		case "$in":
			arr, ok := ops[0].Value().ArrayOK()
			if !ok {
				return bsoncore.Value{}, false
			}
			values, err := arr.Values()
			if err != nil || len(values) != 1 {
				return bsoncore.Value{}, false
			}
			return values[0], pinned(values[0])
		}
		return bsoncore.Value{}, false
	}
	return bsoncore.Value{}, false
}

func pinned(v bsoncore.Value) bool {
	return v.Type == bsoncore.TypeString || v.Type == bsoncore.TypeObjectID
}

// narrow returns req with its filter narrowed to one _id, having asked the
// server over conn which one, or req itself when it cannot be narrowed. It
// must run under the lock.
func narrow(conn io.ReadWriter, req message) (message, error) {
	sections, ok := parseMsg(req)
	if !ok {
		return req, nil
	}
	st, sequence, ok := findStatement(sections)
	if !ok {
		return req, nil
	}
	filter, ok := st.docs[0].Lookup(st.key).DocumentOK()
	if !ok {
		return req, nil
	}
	id, ok := idOf(filter)
	if !ok {
		return req, nil
	}
	body := bsoncore.Document(sections[0].payload)
	db, ok1 := body.Lookup("$db").StringValueOK()
	coll, ok2 := body.Index(0).Value().StringValueOK()
	if !ok1 || !ok2 {
		return req, nil
	}
	matched, err := matches(conn, req, db, coll, id, filter)
	if errors.Is(err, errRefused) || (err == nil && !matched && st.upsert) {
		return req, nil
	}
	if err != nil {
		return nil, err
	}
	if !matched {
		id = bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, noMatch)}
	}
	narrowed := bsoncore.BuildDocument(nil, bsoncore.AppendValueElement(nil, "_id", id))
	stmt := replace(st.docs[0], st.key, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: narrowed})
	switch {
	case sequence > 0: // a kind 1 section of one statement
		s := &sections[sequence]
		s.payload = binary.LittleEndian.AppendUint32(nil, 0)
		s.payload = append(append(s.payload, s.identifier...), 0)
		s.payload = append(s.payload, stmt...)
		binary.LittleEndian.PutUint32(s.payload, uint32(len(s.payload)))
	case sequence == 0: // the body
		sections[0].payload = stmt
	default: // the statements array of the body
		name := "updates"
		if body.Index(0).Key() == "delete" {
			name = "deletes"
		}
		arr := bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: stmt})
		sections[0].payload = replace(body, name, bsoncore.Value{Type: bsoncore.TypeArray, Data: arr})
	}
	return buildMsg(req, sections), nil
}

// replace returns doc with the value of key replaced by v.
func replace(doc bsoncore.Document, key string, v bsoncore.Value) bsoncore.Document {
	elems, _ := doc.Elements()
	idx, out := bsoncore.AppendDocumentStart(nil)
	for _, e := range elems {
		if e.Key() == key {
			out = bsoncore.AppendValueElement(out, key, v)
		} else {
			out = append(out, e...)
		}
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	return out
}

// matches asks the server whether the document of id in db's coll matches
// filter, by an aggregation FerretDB hands SQLite by its first $match.
func matches(conn io.ReadWriter, req message, db, coll string, id bsoncore.Value, filter bsoncore.Document) (bool, error) {
	match := func(f bsoncore.Document) bsoncore.Value {
		return bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: bsoncore.BuildDocument(nil, bsoncore.AppendDocumentElement(nil, "$match", f))}
	}
	pipeline := bsoncore.BuildArray(nil,
		match(bsoncore.BuildDocument(nil, bsoncore.AppendValueElement(nil, "_id", id))),
		match(filter),
		bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: bsoncore.BuildDocument(nil,
			bsoncore.AppendDocumentElement(nil, "$project", bsoncore.BuildDocument(nil, bsoncore.AppendInt32Element(nil, "_id", 1))))},
	)
	cmd := bsoncore.BuildDocument(nil,
		bsoncore.AppendStringElement(nil, "aggregate", coll),
		bsoncore.AppendArrayElement(nil, "pipeline", pipeline),
		bsoncore.AppendDocumentElement(nil, "cursor", bsoncore.BuildDocument(nil)),
		bsoncore.AppendStringElement(nil, "$db", db),
	)
	header := make(message, headerLen+4)
	// A request id of its own, so that its reply is never taken for the
	// client's; the reply is read here and goes no further.
	binary.LittleEndian.PutUint32(header[4:], binary.LittleEndian.Uint32(req[4:])^0x5a5a5a5a)
	binary.LittleEndian.PutUint32(header[12:], opMsg)
	if _, err := conn.Write(buildMsg(header, []section{{kind: 0, payload: cmd}})); err != nil {
		return false, fmt.Errorf("write request upstream: %w", err)
	}
	reply, err := readMessage(conn)
	if err != nil {
		return false, fmt.Errorf("read reply upstream: %w", err)
	}
	answer := bsoncore.Document(msgBody(reply))
	if answer == nil || answer.Validate() != nil {
		return false, fmt.Errorf("mongoproxy: malformed reply to the match of %s.%s", db, coll)
	}
	if ok, _ := answer.Lookup("ok").AsFloat64OK(); ok != 1 {
		// The filter is one FerretDB refuses: send the command as it came,
		// for the client to get FerretDB's own answer to it.
		return false, errRefused
	}
	batch, ok := answer.Lookup("cursor", "firstBatch").ArrayOK()
	if !ok {
		return false, fmt.Errorf("mongoproxy: no firstBatch in the reply to the match of %s.%s", db, coll)
	}
	values, err := batch.Values()
	return len(values) > 0, err
}
