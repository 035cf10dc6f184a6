package events

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// ExpirySource is the CloudEvents source of the events the always-on expiry
// source sends when something comes due: an order's expiry, a domain's sweep.
const ExpirySource = "/functions/expiry-source"

// A Sender delivers one event to the broker. A Publisher is one; a test
// stands in for the broker with its own.
type Sender interface {
	Publish(ctx context.Context, e cloudevents.Event) error
}
