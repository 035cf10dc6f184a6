package main

import (
	"example.com/shop/internal/config"
	"example.com/shop/internal/events"
	"example.com/shop/internal/function"
	"example.com/shop/internal/mongodb"
)

func start(cfg *config.Env) {
	mongodb.Open(cfg, "orders")
	events.NewReceiver(events.KeysFromEnv(cfg))
}

func main() { cfg := &config.Env{}; start(cfg); function.Main(cfg) }
