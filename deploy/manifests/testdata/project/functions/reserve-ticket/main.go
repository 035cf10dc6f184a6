package main

import "example.com/shop/internal/events"

func main() { events.NewReceiver(events.KeysFromEnv(nil)) }
