package testkit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

func TestWaitReturnsOnceCheckHolds(t *testing.T) {
	calls := 0
	err := testkit.Wait(context.Background(), 10*time.Second, func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Wait = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestWaitSaysWhatItSawLast(t *testing.T) {
	calls := 0
	err := testkit.Wait(context.Background(), 50*time.Millisecond, func() error {
		calls++
		return fmt.Errorf("order o1 is pending (check %d)", calls)
	})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("order o1 is pending (check %d)", calls)) {
		t.Fatalf("Wait = %v, want the last check's error (check %d)", err, calls)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := testkit.Wait(ctx, time.Minute, func() error { return errors.New("never") })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}
