package broker

import (
	"fmt"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	amqp "github.com/rabbitmq/amqp091-go"
)

// message is e as eventing-rabbitmq's ingress publishes it: every attribute
// and extension an unprefixed header (which the headers exchange routes on),
// the data the body, persistent, identified by the event's id. One
// difference: the content type's header is named datacontenttype, as the
// attribute, not content-type, so a filter on it routes as in Memory.
func message(e *event.Event) amqp.Publishing {
	headers := amqp.Table{}
	for k, v := range attributes(e) {
		headers[k] = v
	}
	return amqp.Publishing{
		Headers:      headers,
		ContentType:  e.DataContentType(),
		MessageId:    e.ID(),
		DeliveryMode: amqp.Persistent,
		Body:         e.Data(),
	}
}

// eventOf reads back the event of a message written by message.
func eventOf(d *amqp.Delivery) (*event.Event, error) {
	e := event.New()
	for k, v := range d.Headers {
		if strings.HasPrefix(k, "x-") {
			continue // RabbitMQ's own, such as a quorum queue's x-delivery-count
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("message %s: header %s is a %T, not a string", d.MessageId, k, v)
		}
		switch k {
		case "specversion":
			if s != event.CloudEventsVersionV1 {
				return nil, fmt.Errorf("message %s: specversion %q", d.MessageId, s)
			}
		case "id":
			e.SetID(s)
		case "source":
			e.SetSource(s)
		case "type":
			e.SetType(s)
		case "subject":
			e.SetSubject(s)
		case "dataschema":
			e.SetDataSchema(s)
		case "datacontenttype":
			e.SetDataContentType(s)
		case "time":
			t, err := types.ParseTime(s)
			if err != nil {
				return nil, fmt.Errorf("message %s: time: %w", d.MessageId, err)
			}
			e.SetTime(t)
		default:
			e.SetExtension(k, s)
		}
	}
	if len(d.Body) > 0 {
		e.DataEncoded = d.Body
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("message %s: %w", d.MessageId, err)
	}
	return &e, nil
}
