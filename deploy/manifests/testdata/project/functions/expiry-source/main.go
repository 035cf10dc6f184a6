package main

import (
	"example.com/shop/internal/config"
	ev "example.com/shop/internal/events"
	"example.com/shop/internal/function"
)

func start(cfg *config.Env) {
	cfg.Require("REDIS_URL")
	ev.PublisherFromEnv(cfg)
}

func main() { cfg := &config.Env{}; start(cfg); function.Main(cfg) }
