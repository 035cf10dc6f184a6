package main

import "example.com/shop/internal/outbox"

func main() { outbox.NewSweeper().Start(nil) }
