package main

import "example.com/shop/internal/events"

type Function struct{ p *events.Publisher }

func (f *Function) Start(env map[string]string) { f.p = events.PublisherFromEnv(env) }

func main() { (&Function{}).Start(nil) }
