package outbox

import "example.com/shop/internal/events"

// Sweeper builds its publisher in Start: a function that uses it publishes.
type Sweeper struct{ p *events.Publisher }

func NewSweeper() *Sweeper { return &Sweeper{} }

func (s *Sweeper) Start(env map[string]string) { s.p = events.PublisherFromEnv(env) }
