package events

const (
	TypeOrderCreated = "shop.order.created"
	TypeOrderExpired = "shop.order.expired"
)

type Data interface{ EventType() string }

var Catalogue = map[string]Data{
	TypeOrderCreated: nil,
	TypeOrderExpired: nil,
}

type Publisher struct{ sink string }

func PublisherFromEnv(env map[string]string) *Publisher { return &Publisher{env["K_SINK"]} }
