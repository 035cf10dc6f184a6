package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/load"
)

// loadRun runs bench/load's driver briefly on s: buyers and sellers at once
// complete purchases, and every invariant visible through the API holds.
// Then it shows the checker reads what the API says: a history that claims
// what the buyers were not told breaks the invariants it names.
func loadRun(t *testing.T, s *devstacktest.Stack) {
	ctx := context.Background()
	c := load.NewClient(s.URL, 16)
	res, err := load.Run(ctx, c, load.Config{Buyers: 4, Sellers: 2, Duration: 5 * time.Second, Pay: 0.8, Cancel: 0.1, Browse: 1, Contend: 0.2, ListOrders: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Purchases == 0 {
		t.Fatal("no purchase was completed")
	}
	vs, err := load.Check(ctx, c, res.History, 30*time.Second, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Error(v)
	}

	var paid string
	for _, o := range res.History.Orders() {
		if o.Paid {
			paid = o.ID
			break
		}
	}
	res.History.Update(paid, func(o *load.Order) { o.Paid, o.Cancelled = false, true })
	vs, err = load.Check(ctx, c, res.History, 0, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Invariant != load.InvariantBuyerTold || vs[1].Invariant != load.InvariantBuyerTold {
		t.Errorf("a paid order recorded as cancelled and never charged: violations %v, want two of %q", vs, load.InvariantBuyerTold)
	}
}
