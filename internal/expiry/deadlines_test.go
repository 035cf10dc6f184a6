package expiry

import (
	"context"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func TestScheduleRecordsKeyAndDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	d := NewDeadlines(rdb, testenv.Name())
	expiresAt := time.Now().Add(time.Hour).Truncate(time.Millisecond)

	if err := d.Schedule(ctx, "o1", expiresAt); err != nil {
		t.Fatal(err)
	}

	ttl, err := rdb.PExpireTime(ctx, d.keyPrefix+"o1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got := time.UnixMilli(ttl.Milliseconds()); !got.Equal(expiresAt) {
		t.Errorf("key expires at %v, want %v", got, expiresAt)
	}
	score, err := rdb.ZScore(ctx, d.due, "o1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if int64(score) != expiresAt.UnixMilli() {
		t.Errorf("deadline score %v, want %v", int64(score), expiresAt.UnixMilli())
	}
	got, ok, err := d.Deadline(ctx, "o1")
	if err != nil || !ok || !got.Equal(expiresAt) {
		t.Errorf("Deadline = %v, %v, %v; want %v", got, ok, err, expiresAt)
	}
}

func TestForgetRemovesKeyAndDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	d := NewDeadlines(rdb, testenv.Name())
	if err := d.Schedule(ctx, "o1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	if err := d.Forget(ctx, "o1"); err != nil {
		t.Fatal(err)
	}

	if n, err := rdb.Exists(ctx, d.keyPrefix+"o1").Result(); err != nil || n != 0 {
		t.Errorf("expiry key still exists (%d, %v)", n, err)
	}
	if n, err := rdb.ZCard(ctx, d.due).Result(); err != nil || n != 0 {
		t.Errorf("deadline set holds %d entries (%v), want none", n, err)
	}
	if _, ok, err := d.Deadline(ctx, "o1"); err != nil || ok {
		t.Errorf("Deadline after Forget = %v, %v; want none", ok, err)
	}
}
