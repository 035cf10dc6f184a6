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

var Emitters = map[string][]string{
	TypeOrderCreated: {"create-order"},
	TypeOrderExpired: {"expiry-source", "get-order"},
}

type Keys struct{ keys []string }

func KeysFromEnv(env map[string]string) *Keys { return &Keys{[]string{env["EVENT_SIGNING_KEYS"]}} }

type Publisher struct {
	sink string
	keys *Keys
}

func PublisherFromEnv(env map[string]string) *Publisher {
	return &Publisher{env["K_SINK"], KeysFromEnv(env)}
}

type Receiver struct{ keys *Keys }

func NewReceiver(keys *Keys) *Receiver { return &Receiver{keys} }
