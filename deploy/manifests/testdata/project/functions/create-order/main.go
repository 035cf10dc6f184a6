package main

import (
	"time"

	"example.com/shop/internal/config"
	"example.com/shop/internal/events"
	"example.com/shop/internal/function"
	"example.com/shop/internal/limits"
	"example.com/shop/internal/mongodb"
)

type Function struct {
	p     *events.Publisher
	ttl   time.Duration
	limit string
}

func (f *Function) Start(cfg *config.Env) {
	mongodb.Open(cfg, "orders")
	f.p = events.PublisherFromEnv(cfg)
	f.ttl = cfg.Duration("ORDER_TTL", 15*time.Minute)
	f.limit = limits.FromEnv(cfg, "OPEN_ORDERS_LIMIT", "10")
}

func main() { cfg := &config.Env{}; (&Function{}).Start(cfg); function.Main(cfg) }
