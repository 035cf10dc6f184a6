package main

import ev "example.com/shop/internal/events"

func main() { ev.PublisherFromEnv(nil) }
