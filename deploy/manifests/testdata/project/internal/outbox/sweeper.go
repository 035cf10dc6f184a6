package outbox

import (
	"example.com/shop/internal/config"
	"example.com/shop/internal/events"
	"example.com/shop/internal/mongodb"
)

// Sweeper builds its publisher in Start: a function that uses it publishes.
type Sweeper struct{ p *events.Publisher }

func NewSweeper() *Sweeper { return &Sweeper{} }

func (s *Sweeper) Start(cfg *config.Env) {
	mongodb.Open(cfg, "orders")
	s.p = events.PublisherFromEnv(cfg)
}
