package events

import "example.com/shop/internal/config"

const (
	TypeOrderCreated = "shop.order.created"
	TypeOrderExpired = "shop.order.expired"
)

type Data interface{ EventType() string }

var Catalogue = map[string]Data{
	TypeOrderCreated: nil,
	TypeOrderExpired: nil,
}

var Emitters = map[string][]string{
	TypeOrderCreated: {"create-order"},
	TypeOrderExpired: {"expiry-source", "get-order"},
}

type Keys struct{ keys []string }

const KeysVariable = "EVENT_SIGNING_KEYS"

func KeysFromEnv(cfg *config.Env) *Keys { return &Keys{[]string{cfg.Require(KeysVariable)}} }

type Publisher struct {
	sink string
	keys *Keys
}

func PublisherFromEnv(cfg *config.Env) *Publisher {
	return &Publisher{cfg.Require("K_SINK"), KeysFromEnv(cfg)}
}

type Receiver struct{ keys *Keys }

func NewReceiver(keys *Keys) *Receiver { return &Receiver{keys} }
