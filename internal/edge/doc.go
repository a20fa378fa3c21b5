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
// edge.<domain>.>, on disk, bounded (oldest dropped first, counted by Node.Dropped). The hub
// keeps a stream EDGE_<domain> that sources OUTBOX through $JS.<domain>.API (Link): the hub's
// server asks the node's for a consumer delivering to $SB.edge.<domain>.deliver.…, notes each
// message's outbox sequence, and after any break (hub or node restarted, connection lost)
// asks again from the next sequence: in order, none twice, nothing lost that the outbox
// still had. Link.Receive hands the hub stream's messages to a callback through a durable
// consumer, one at a time, acknowledged once the callback succeeded; gaps in the outbox
// sequence (messages the bound dropped before the hub had them) are counted (Delivery.Lost,
// Link.Lost).
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
