package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Store keeps the revocations in MongoDB, the system of record, and a copy
// in Redis that every authenticated request reads in one command.
//
// The copy is one sorted set, so that Redis loses it whole or not at all:
// a FLUSHALL, a restart without persistence or an eviction takes its marker
// member with it. Its members are
//
//	loaded        score +inf: the set holds every revocation of MongoDB
//	r:<jti>       a revoked token, score its expiry (ms)
//	v:<user id>   the account's valid-after time (ms): older tokens are refused
//	b:<nonce>     a rebuild under way, score its start (ms)
//
// A writer records in MongoDB first, then in Redis; a rebuild reads MongoDB
// after the loss and only adds. So whatever was recorded before a rebuild
// read MongoDB is in what it copies, and whatever after is in Redis already.
type Store struct {
	rdb   *redis.Client
	db    *mongo.Database
	key   string // the sorted set
	lock  string // held by the one rebuild at a time
	ttl   time.Duration
	lease time.Duration // how long a rebuild may hold lock
	now   func() time.Time

	indexed atomic.Bool
}

// The collections of the sessions database.
const (
	revocationsCollection = "revocations" // {_id: jti, expiresAt}
	validAfterCollection  = "validAfter"  // {_id: user id, validAfter, expiresAt}
)

const loadedMember = "loaded"

// NewStore returns the revocations kept in db and copied to rdb. ttl is
// SESSION_TTL: a valid-after time matters for as long after it as a token
// issued just before it lives.
func NewStore(rdb *redis.Client, db *mongo.Database, ttl time.Duration) *Store {
	key := "ticketing:revocations:" + db.Name()
	return &Store{rdb: rdb, db: db, key: key, lock: key + ":rebuild", ttl: ttl, lease: 30 * time.Second, now: time.Now}
}

// Revoke refuses jti until until: one MongoDB upsert, then one Redis round
// trip, which also drops what has long expired from the copy.
func (s *Store) Revoke(ctx context.Context, jti string, until time.Time) error {
	if !until.After(s.now()) {
		return nil
	}
	_, err := s.db.Collection(revocationsCollection).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: jti}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "expiresAt", Value: until}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("record revocation: %w", err)
	}
	return s.copy(ctx, "r:"+jti, until)
}

// RevokeBefore refuses every token of user issued before at, until until
// (when the last of them expires).
func (s *Store) RevokeBefore(ctx context.Context, user string, at, until time.Time) error {
	_, err := s.db.Collection(validAfterCollection).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: user}},
		bson.D{
			{Key: "$max", Value: bson.D{{Key: "validAfter", Value: at}}},
			{Key: "$set", Value: bson.D{{Key: "expiresAt", Value: until}}},
		},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("record valid-after of user %s: %w", user, err)
	}
	return s.copy(ctx, "v:"+user, at)
}

// copy adds member to the Redis copy, never lowering its score, and drops
// the members that stopped mattering a TTL ago: a token's revocation a TTL
// after the token expired, a valid-after time a TTL after it was set (a
// token is never older than that), a rebuild that died a TTL ago.
func (s *Store) copy(ctx context.Context, member string, at time.Time) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAddGT(ctx, s.key, redis.Z{Score: float64(at.UnixMilli()), Member: member})
		p.ZRemRangeByScore(ctx, s.key, "-inf", "("+strconv.FormatInt(s.now().Add(-s.ttl).UnixMilli(), 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy %s to redis: %w", member, err)
	}
	return nil
}

// Refused reports whether the session c was revoked, or issued before its
// account's valid-after time. Redis answers while it holds the marker; when
// it has lost it, this rebuilds the copy from MongoDB, or, while another
// function does, asks MongoDB. A MongoDB that cannot be reached then is an
// error, never an accepted session.
func (s *Store) Refused(ctx context.Context, c *Claims) (bool, error) {
	for rebuilt := false; ; rebuilt = true {
		scores, err := s.rdb.ZMScore(ctx, s.key, loadedMember, "r:"+c.RegisteredClaims.ID, "v:"+c.ID).Result()
		if err != nil {
			return false, fmt.Errorf("read revocations: %w", err)
		}
		if scores[0] != 0 {
			// An absent member scores 0, which no revocation has.
			revoked, validAfter := scores[1] != 0, scores[2]
			return revoked || (validAfter != 0 && float64(c.IssuedAt.UnixMilli()) < validAfter), nil
		}
		if rebuilt {
			break
		}
		err = s.Rebuild(ctx)
		if errors.Is(err, errBusy) || errors.Is(err, errLost) {
			break
		}
		if err != nil {
			return false, err
		}
	}
	return s.refusedByMongo(ctx, c)
}

// refusedByMongo is Refused asked of MongoDB alone.
func (s *Store) refusedByMongo(ctx context.Context, c *Claims) (bool, error) {
	err := s.db.Collection(revocationsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: c.RegisteredClaims.ID}}).Err()
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return false, fmt.Errorf("read revocation: %w", err)
	}
	var va struct {
		ValidAfter time.Time `bson:"validAfter"`
	}
	err = s.db.Collection(validAfterCollection).FindOne(ctx, bson.D{{Key: "_id", Value: c.ID}}).Decode(&va)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read valid-after of user %s: %w", c.ID, err)
	}
	return c.IssuedAt.Before(va.ValidAfter), nil
}

var (
	// errBusy: another function is rebuilding the copy.
	errBusy = errors.New("another function is rebuilding the revocations in redis")
	// errLost: Redis lost the copy again while it was being rebuilt.
	errLost = errors.New("redis lost the revocations while they were rebuilt")
)

// The scripts of a rebuild. Each acts only while the rebuild's own member
// is in the set, so that a rebuild whose set Redis lost half-way cannot
// mark a partial copy as loaded.
var (
	addWhileBuilding = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'GT', ARGV[i], ARGV[i+1]) end
return 1`)
	finishBuilding = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'inf', 'loaded')
redis.call('ZREM', KEYS[1], ARGV[1])
return 1`)
	unlock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// Rebuild copies every revocation and valid-after time of MongoDB to Redis,
// then marks the copy loaded; one function at a time (errBusy for the
// others). It also creates MongoDB's TTL indexes, and deletes what expired
// where the database has none (FerretDB).
func (s *Store) Rebuild(ctx context.Context) error {
	nonceBytes := make([]byte, 8)
	_, _ = rand.Read(nonceBytes)
	nonce := hex.EncodeToString(nonceBytes)
	ok, err := s.rdb.SetNX(ctx, s.lock, nonce, s.lease).Result()
	if err != nil {
		return fmt.Errorf("lock the rebuild of revocations: %w", err)
	}
	if !ok {
		return errBusy
	}
	defer unlock.Run(context.WithoutCancel(ctx), s.rdb, []string{s.lock}, nonce)

	now := s.now()
	if err := s.prepare(ctx, now); err != nil {
		return err
	}
	building := "b:" + nonce
	if err := s.rdb.ZAdd(ctx, s.key, redis.Z{Score: float64(now.UnixMilli()), Member: building}).Err(); err != nil {
		return fmt.Errorf("rebuild revocations: %w", err)
	}
	for _, c := range []struct {
		coll, prefix, at string
	}{
		{revocationsCollection, "r:", "expiresAt"},
		{validAfterCollection, "v:", "validAfter"},
	} {
		if err := s.copyAll(ctx, c.coll, c.prefix, c.at, building, now); err != nil {
			return err
		}
	}
	done, err := finishBuilding.Run(ctx, s.rdb, []string{s.key}, building).Int()
	if err != nil {
		return fmt.Errorf("rebuild revocations: %w", err)
	}
	if done == 0 {
		return errLost
	}
	return nil
}

// copyAll adds to Redis, in batches, every document of coll that has not
// expired, as prefix+_id scored by its field at.
func (s *Store) copyAll(ctx context.Context, coll, prefix, at, building string, now time.Time) error {
	cur, err := s.db.Collection(coll).Find(ctx, bson.D{{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now}}}})
	if err != nil {
		return fmt.Errorf("rebuild revocations: read %s: %w", coll, err)
	}
	defer cur.Close(ctx)
	const batch = 500
	args := []any{building}
	flush := func() error {
		if len(args) == 1 {
			return nil
		}
		added, err := addWhileBuilding.Run(ctx, s.rdb, []string{s.key}, args...).Int()
		if err != nil {
			return fmt.Errorf("rebuild revocations: copy %s: %w", coll, err)
		}
		if added == 0 {
			return errLost
		}
		args = args[:1]
		return nil
	}
	for cur.Next(ctx) {
		var doc bson.M
		if err := cur.Decode(&doc); err != nil {
			return fmt.Errorf("rebuild revocations: read %s: %w", coll, err)
		}
		id, _ := doc["_id"].(string)
		t, ok := doc[at].(bson.DateTime)
		if id == "" || !ok {
			continue // not written by this package
		}
		args = append(args, int64(t), prefix+id)
		if len(args) > 2*batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("rebuild revocations: read %s: %w", coll, err)
	}
	return flush()
}

// prepare creates the TTL indexes that keep MongoDB's records no longer than
// they matter, once per process, and deletes the expired records a
// database without TTL indexes keeps (FerretDB v1 has none).
func (s *Store) prepare(ctx context.Context, now time.Time) error {
	for _, coll := range []string{revocationsCollection, validAfterCollection} {
		c := s.db.Collection(coll)
		if !s.indexed.Load() {
			_, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{
				Keys:    bson.D{{Key: "expiresAt", Value: 1}},
				Options: options.Index().SetExpireAfterSeconds(0).SetName("expiresAt_ttl"),
			})
			if err != nil && !notImplemented(err) {
				return fmt.Errorf("create the TTL index of %s: %w", coll, err)
			}
		}
		if _, err := c.DeleteMany(ctx, bson.D{{Key: "expiresAt", Value: bson.D{{Key: "$lte", Value: now}}}}); err != nil {
			return fmt.Errorf("delete expired %s: %w", coll, err)
		}
	}
	s.indexed.Store(true)
	return nil
}

// notImplemented reports whether the database refused a command it does not
// implement (code 238, as FerretDB answers a TTL index).
func notImplemented(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 238
}
