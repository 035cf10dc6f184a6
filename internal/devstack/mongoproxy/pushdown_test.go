package mongoproxy

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// TestNarrowedCommandsDoWhatTheyWould runs through the proxy the commands it
// narrows to one _id, and checks each does what MongoDB does with the
// filter as written: a filter that the document fails matches nothing, an
// upsert that matches nothing inserts the filter's fields.
func TestNarrowedCommandsDoWhatTheyWould(t *testing.T) {
	coll := connect(t, startProxy(t, host(t, startFerretDB(t))).URI()).Database("narrow").Collection("docs")
	ctx := t.Context()
	insert(t, coll, bson.D{{Key: "_id", Value: "a"}, {Key: "version", Value: 1}, {Key: "owner", Value: "x"}})
	id := bson.NewObjectID()
	insert(t, coll, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: 1}})

	for _, f := range []bson.D{
		{{Key: "_id", Value: "a"}, {Key: "version", Value: 1}},
		{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"a"}}}}, {Key: "owner", Value: "x"}},
		{{Key: "_id", Value: bson.D{{Key: "$eq", Value: "a"}}}, {Key: "owner", Value: "x"}},
		{{Key: "version", Value: 1}, {Key: "_id", Value: id}},
	} {
		if n, err := coll.CountDocuments(ctx, f); err != nil || n != 1 {
			t.Errorf("count %v: %d, %v; want 1", f, n, err)
		}
		if err := coll.FindOne(ctx, f).Err(); err != nil {
			t.Errorf("find one %v: %v", f, err)
		}
	}
	for _, f := range []bson.D{
		{{Key: "_id", Value: "a"}, {Key: "version", Value: 2}},
		{{Key: "_id", Value: "b"}, {Key: "version", Value: 1}},
		{{Key: "_id", Value: id}, {Key: "owner", Value: "x"}},
	} {
		if err := coll.FindOne(ctx, f).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
			t.Errorf("find one %v: %v, want no documents", f, err)
		}
		res, err := coll.UpdateOne(ctx, f, bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: "y"}}}})
		if err != nil || res.MatchedCount != 0 {
			t.Errorf("update %v: %+v, %v; want no match", f, res, err)
		}
		if err := coll.FindOneAndUpdate(ctx, f, bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: "y"}}}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
			t.Errorf("find one and update %v: %v, want no documents", f, err)
		}
		if res, err := coll.DeleteOne(ctx, f); err != nil || res.DeletedCount != 0 {
			t.Errorf("delete %v: %+v, %v; want none deleted", f, res, err)
		}
	}

	var got bson.M
	err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "version", Value: 1}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got)
	if err != nil || got["version"] != int32(2) || got["owner"] != "x" {
		t.Errorf("conditional update: %v, %v; want version 2 of owner x", got, err)
	}
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "b"}, {Key: "owner", Value: "z"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: 0}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil || res.UpsertedCount != 1 {
		t.Fatalf("upsert: %+v, %v", res, err)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "b"}}).Decode(&got); err != nil || got["owner"] != "z" {
		t.Errorf("upserted %v, %v; want the filter's owner z", got, err)
	}
	if res, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "owner", Value: "x"}}); err != nil || res.DeletedCount != 1 {
		t.Errorf("delete: %+v, %v; want one deleted", res, err)
	}
}

// TestNarrowAsksThenSendsOneID checks what the proxy sends upstream for a
// conditional update of one statement, as the driver sends it (a document
// sequence): first the match, then the update with its filter narrowed to
// the _id, or to an _id no document has when the document did not match.
func TestNarrowAsksThenSendsOneID(t *testing.T) {
	stmt := bsoncore.BuildDocument(nil,
		bsoncore.AppendDocumentElement(nil, "q", bsoncore.BuildDocument(nil,
			bsoncore.AppendStringElement(nil, "_id", "a"), bsoncore.AppendInt32Element(nil, "version", 1))),
		bsoncore.AppendDocumentElement(nil, "u", bsoncore.BuildDocument(nil)),
	)
	seq := binary.LittleEndian.AppendUint32(nil, 0)
	seq = append(append(seq, "updates"...), 0)
	seq = append(seq, stmt...)
	binary.LittleEndian.PutUint32(seq, uint32(len(seq)))
	header := make(message, headerLen+4)
	binary.LittleEndian.PutUint32(header[4:], 7)
	binary.LittleEndian.PutUint32(header[12:], opMsg)
	req := buildMsg(header, []section{
		{kind: 0, payload: bsoncore.BuildDocument(nil, bsoncore.AppendStringElement(nil, "update", "docs"), bsoncore.AppendStringElement(nil, "$db", "d"))},
		{kind: 1, payload: seq},
	})

	for _, c := range []struct {
		matched bool
		want    string
	}{{true, "a"}, {false, noMatch}} {
		client, server := net.Pipe()
		asked := make(chan bsoncore.Document, 1)
		go func() {
			m, err := readMessage(server)
			if err != nil {
				asked <- nil
				return
			}
			asked <- bsoncore.Document(msgBody(m))
			batch := bsoncore.BuildArray(nil)
			if c.matched {
				batch = bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: bsoncore.BuildDocument(nil, bsoncore.AppendStringElement(nil, "_id", "a"))})
			}
			reply := bsoncore.BuildDocument(nil,
				bsoncore.AppendDocumentElement(nil, "cursor", bsoncore.BuildDocument(nil, bsoncore.AppendArrayElement(nil, "firstBatch", batch))),
				bsoncore.AppendDoubleElement(nil, "ok", 1))
			_, _ = server.Write(buildMsg(header, []section{{kind: 0, payload: reply}}))
		}()
		narrowed, err := narrow(client, req)
		client.Close()
		if err != nil {
			t.Fatal(err)
		}
		if cmd := <-asked; cmd.Index(0).Key() != "aggregate" {
			t.Errorf("asked %v first, want an aggregate", cmd)
		}
		sections, ok := parseMsg(narrowed)
		if !ok || len(sections) != 2 || len(sections[1].docs) != 1 {
			t.Fatalf("narrowed message %v does not parse as the request did", narrowed)
		}
		q := sections[1].docs[0].Lookup("q").Document()
		if got, _ := q.Lookup("_id").StringValueOK(); got != c.want || len(mustElements(t, q)) != 1 {
			t.Errorf("matched %v: sent filter %v, want {_id: %q}", c.matched, q, c.want)
		}
		if binary.LittleEndian.Uint32(narrowed[4:]) != 7 {
			t.Error("the narrowed request lost its request id")
		}
	}
}

func mustElements(t *testing.T, d bsoncore.Document) []bsoncore.Element {
	t.Helper()
	elems, err := d.Elements()
	if err != nil {
		t.Fatal(err)
	}
	return elems
}
