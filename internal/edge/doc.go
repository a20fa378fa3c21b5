// Package edge runs edge nodes over NATS's own edge mechanism: a node runs an embedded
// nats-server that is a leaf node of the hub's server, with a JetStream domain of its own, so
// that it keeps working while the hub cannot be reached and catches up when it can.
//
// Domains. The hub's JetStream is domain "hub" (bus.DefaultDomain); node N of solution S has
// domain Domain(S, N), "n" and 16 hex digits of a hash of both. Each server answers its own
// domain's API as $JS.<domain>.API.> besides its local $JS.API.>; the server itself keeps
// $JS.API.>, $KV.> and $OBJ.> from crossing a leaf connection between two domains.
//
// Node to hub. The node stores what it produces (Node.Publish) in its stream OUTBOX, subjects
// edge.<domain>.>, on disk: a work queue, from which what the hub acknowledged goes. It is
// bounded in what the hub has not taken; when full it keeps what it has (the oldest) and
// refuses the newest, counting them (Node.Dropped, kept across restarts), and the count goes
// to the hub as a message of subject LostSubject before the next message it takes: what the
// hub gets has no hole in it but the one it is told of. The hub takes the outbox through a
// durable pull consumer of its own, "hub", on the node's domain ($JS.<domain>.API, Link),
// one message at a time, acknowledged once the hub's callback succeeded (Link.Receive): in
// order, none twice, after any break (hub or node restarted, connection lost) from where it
// stopped. Counts and gaps in the outbox sequence are counted (Delivery.Lost, Link.Lost).
//
// Hub to node. The hub writes the node's assignment into the node's KV bucket ASSIGN through
// $JS.<domain>.API.$KV.ASSIGN.<key> (Link.Assign), while the node is connected; the node
// reads it locally (Node.Assignment), also after a restart with the hub down.
//
// Who may do what. A node logs in to the hub's leaf listener with a user and password; the
// hub decides (bus.LeafConfig.Login) and bounds logins per solution and in all. A node's leaf
// connection joins the hub's global account but carries only Grant(domain): from the node,
// $SB.edge.<domain>.> (its deliveries, and replies to the Link's requests, which use that
// inbox prefix) and $JSC.R.<domain>.> (replies to the hub stream's requests, which name the
// domain because both servers run with the js_api_reply_v2 feature); to the node,
// $JS.<domain>.API.> and $JS.FC.<domain>.> (flow control answers). On a leaf connection the
// grant's Publish is what the node sends and Subscribe what it receives (the server turns
// them around on the hub's side); a node therefore reaches neither the hub's JetStream
// ($JS.API, $JS.hub.API), nor another node's domain, nor any of the hub's subjects, and
// receives nothing but requests to its own domain.
package edge
