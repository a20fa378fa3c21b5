// Package connectorsdk is the Go SDK for Switchboard event connectors: programs outside the
// hub that take messages from somewhere else (a queue, a file, a device, a schedule) and
// publish each as an event on a topic, so that the handlers of a solution subscribed to the
// topic run for it.
//
// A [Controller] publishes with POST /api/v1/solutions/{solution}/events, each event as a
// CloudEvent in binary HTTP mode:
//
//	c, err := connectorsdk.NewController(connectorsdk.Config{
//		HubURL:    "http://switchboard:8080",
//		Solution:  "shop",
//		TokenFile: "/run/secrets/shop-token",
//	})
//	if err != nil { ... }
//	defer c.Close()
//	c.Subscribe(connectorsdk.ReceiverFunc(func(r connectorsdk.Result) {
//		if r.Err != nil {
//			log.Printf("%s: %v", r.Topic, r.Err)
//		}
//	}))
//	c.Invoke(ctx, "orders.created", []byte(`{"n": 1}`), nil)
//
// Every invocation ends in exactly one [Result], handed to every subscribed [Receiver]: a
// stored event, the handlers' results, or an error, "no handler for this topic" included
// ([ErrNoHandler]). Errors are *[Error] values naming the topic, and the handler when the hub
// says which one failed. Nothing in the package exits the process or panics on a bad answer.
//
// By default (Config.Async false) the handlers run while the hub answers, and the result holds
// what each returned. With Config.Async the hub stores the event and answers 202 at once; its
// handlers then run with the hub's durable delivery (retries, dead letters, the delivery report
// at GET /api/v1/solutions/{solution}/events/{id}, where id is Result.EventID).
//
// At most Config.MaxInFlight invocations are sent at once: Invoke waits for a free slot, so a
// connector that reads faster than the hub takes its events slows down instead of piling up
// requests.
package connectorsdk
