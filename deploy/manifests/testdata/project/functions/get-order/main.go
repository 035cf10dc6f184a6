package main

import (
	"example.com/shop/internal/config"
	"example.com/shop/internal/function"
	"example.com/shop/internal/mongodb"
)

func main() { cfg := &config.Env{}; mongodb.Open(cfg, "orders"); function.Main(cfg) }
