package main

import (
	"example.com/shop/internal/config"
	"example.com/shop/internal/function"
	"example.com/shop/internal/outbox"
)

func main() { cfg := &config.Env{}; outbox.NewSweeper().Start(cfg); function.Main(cfg) }
