package auth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// BenchmarkRevoke is what signing out costs the session store: the
// revocation recorded where every function sees it.
//
//	go test -run '^$' -bench . -benchtime 2000x ./internal/auth/
func BenchmarkRevoke(b *testing.B) {
	s := open(b)
	for range b.N {
		b.StopTimer()
		_, c := issue(b, s, "ada")
		b.StartTimer()
		if err := s.Revoke(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCurrent is what every authenticated request pays to know its
// session is neither revoked nor older than its account's password.
func BenchmarkCurrent(b *testing.B) {
	s := open(b)
	token, _ := issue(b, s, "ada")
	r := bearer(token)
	if c, err := s.Current(context.Background(), r); c == nil || err != nil {
		b.Fatalf("current: %v %v", c, err)
	}
	b.ResetTimer()
	for range b.N {
		if c, err := s.Current(context.Background(), r); c == nil || err != nil {
			b.Fatalf("current: %v %v", c, err)
		}
	}
}

// BenchmarkUpsert is one MongoDB upsert alone, as Revoke makes, for
// comparison: what Revoke adds to signing out should be no more.
func BenchmarkUpsert(b *testing.B) {
	coll := testenv.Mongo(b).Collection("revocations")
	for i := range b.N {
		_, err := coll.UpdateOne(context.Background(),
			bson.D{{Key: "_id", Value: fmt.Sprint("jti", i)}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "expiresAt", Value: time.Now().Add(time.Hour)}}}},
			options.UpdateOne().SetUpsert(true))
		if err != nil {
			b.Fatal(err)
		}
	}
}
