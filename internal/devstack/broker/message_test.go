package broker

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestMessageRoundTrip(t *testing.T) {
	e := newEvent("e1", "order.created")
	e.SetSubject("order-1")
	e.SetTime(time.Date(2026, 11, 25, 12, 1, 0, 0, time.UTC))
	e.SetDataSchema("https://example.com/schema")
	e.SetExtension("knativeerrorcode", 503)
	e.SetExtension("flag", true)

	m := message(&e)
	headers := amqp.Table{"x-delivery-count": int64(2)} // added by a quorum queue on redelivery
	for k, v := range m.Headers {
		headers[k] = v
	}
	got, err := eventOf(&amqp.Delivery{Headers: headers, Body: m.Body, MessageId: m.MessageId})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != e.ID() || got.Type() != e.Type() || got.Source() != e.Source() || got.Subject() != e.Subject() ||
		!got.Time().Equal(e.Time()) || got.DataSchema() != e.DataSchema() || got.DataContentType() != e.DataContentType() ||
		string(got.Data()) != string(e.Data()) {
		t.Errorf("read back\n%v\nwant\n%v", got, e)
	}
	// Extensions travel in their canonical string form, as over HTTP.
	if got.Extensions()["knativeerrorcode"] != "503" || got.Extensions()["flag"] != "true" || len(got.Extensions()) != 2 {
		t.Errorf("extensions %v", got.Extensions())
	}
}
