package main

import "context"

// broker is one broker's side of the benchmark: it makes fresh destinations there.
type broker interface {
	// dest makes a fresh destination (a topic, a queue, a stream) named after tag.
	dest(ctx context.Context, tag string) (destination, error)
	close()
}

// destination is where one run's messages go: the load program publishes to it, and either
// the broker's own client or a connector reads it.
type destination interface {
	// publish sends one message and returns once the broker has it (where the broker says
	// so); safe for concurrent use. id goes where the broker carries a message id.
	publish(ctx context.Context, id string, body []byte) error
	// consume reads the destination with the broker's own client, in the delivery mode the
	// connector uses, at most inFlight messages unacknowledged; each message is acknowledged
	// once got returned. Reading has begun when consume returns.
	consume(ctx context.Context, inFlight int, got func(body []byte)) (stop func(), err error)
	// connector is the type and config of a connector reading the destination.
	connector(inFlight int) (typ string, cfg map[string]any)
	close(ctx context.Context)
}

// newBroker connects to each broker by name; an error skips the broker.
var newBroker = map[string]func(ctx context.Context, c config) (broker, error){
	"mqtt":   newMQTT,
	"amqp":   newAMQP,
	"redis":  newRedis,
	"nats":   newNATSCore,
	"natsjs": newNATSJetStream,
	"kafka":  newKafka,
}
