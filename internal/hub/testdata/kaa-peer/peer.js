#!/usr/bin/env node
// A Kaa-style 23/AIP peer that knows nothing of Switchboard: it encodes and decodes
// AutomationInvocations with avsc (the Avro library of Kaa's own tutorials) as raw binary Avro,
// no container header, and moves them over NATS with nats.js.
//
//   node peer.js publish   --url U [--token T] --subject S --invocation JSON
//   node peer.js subscribe --url U [--token T] --subject S --count N
//
// The invocation JSON is {correlationId, timestamp, timeout, tenantId, payload}, payload being
// base64 or null. subscribe prints {"ready":true} once its subscription is on the server, then
// one JSON line per invocation received, in the same form plus "subject" (or "error" when it
// does not decode), and exits after N of them.
"use strict";

const fs = require("fs");
const path = require("path");
const avro = require("avsc");
const { connect } = require("nats");

const schemaFile = path.join(__dirname, "..", "..", "..", "kaa", "0023-automation-invocation.avsc");
const invocationType = avro.Type.forSchema(JSON.parse(fs.readFileSync(schemaFile, "utf8")));

const usage =
  "usage: peer.js publish --url U [--token T] --subject S --invocation JSON\n" +
  "       peer.js subscribe --url U [--token T] --subject S --count N";

function fail(msg) {
  process.stderr.write(`kaa-peer: ${msg}\n${usage}\n`);
  process.exit(2);
}

// parseFlags reads --name value pairs, refusing any flag not in allowed.
function parseFlags(argv, allowed) {
  const flags = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "");
    if (!argv[i].startsWith("--") || !allowed.includes(name)) fail(`unknown argument ${argv[i]}`);
    if (i + 1 >= argv.length) fail(`${argv[i]}: no value`);
    flags[name] = argv[i + 1];
  }
  for (const required of allowed.filter((f) => f !== "token")) {
    if (flags[required] === undefined) fail(`--${required}: required`);
  }
  return flags;
}

// toRecord is the avsc record of the invocation JSON: payload from base64 to bytes.
function toRecord(inv) {
  if (inv.payload !== null && typeof inv.payload !== "string") fail("--invocation: payload: want base64 or null");
  const rec = { ...inv, payload: inv.payload === null ? null : Buffer.from(inv.payload, "base64") };
  if (!invocationType.isValid(rec, { errorHook: (p) => fail(`--invocation: field ${p.join(".")} does not fit the schema`) })) {
    fail("--invocation: not an AutomationInvocation");
  }
  return rec;
}

// fromRecord is the printable form of a decoded record: payload as base64.
function fromRecord(rec) {
  return {
    correlationId: rec.correlationId,
    timestamp: rec.timestamp,
    timeout: rec.timeout,
    tenantId: rec.tenantId,
    payload: rec.payload === null ? null : rec.payload.toString("base64"),
  };
}

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function publish(flags) {
  let inv;
  try {
    inv = JSON.parse(flags.invocation);
  } catch (e) {
    fail(`--invocation: not JSON: ${e.message}`);
  }
  // toBuffer is the raw binary encoding: no object container header, no fingerprint.
  const data = invocationType.toBuffer(toRecord(inv));
  const nc = await connect({ servers: flags.url, token: flags.token, name: "kaa-peer" });
  nc.publish(flags.subject, data);
  await nc.flush();
  await nc.close();
  print({ published: flags.subject, bytes: data.length });
}

async function subscribe(flags) {
  const count = Number(flags.count);
  if (!Number.isInteger(count) || count < 1) fail(`--count ${flags.count}: want a whole number above 0`);
  const nc = await connect({ servers: flags.url, token: flags.token, name: "kaa-peer" });
  const sub = nc.subscribe(flags.subject, { max: count });
  await nc.flush(); // the server has the subscription: what is published from now on arrives
  print({ ready: true });
  for await (const m of sub) {
    try {
      // fromBuffer refuses trailing bytes, so a header or extra data would show as an error.
      print({ subject: m.subject, ...fromRecord(invocationType.fromBuffer(Buffer.from(m.data))) });
    } catch (e) {
      print({ subject: m.subject, error: e.message });
    }
  }
  await nc.close();
}

const [mode, ...rest] = process.argv.slice(2);
const run = {
  publish: () => publish(parseFlags(rest, ["url", "token", "subject", "invocation"])),
  subscribe: () => subscribe(parseFlags(rest, ["url", "token", "subject", "count"])),
}[mode];
if (!run) fail(`unknown mode ${JSON.stringify(mode)}`);
run().catch((e) => {
  process.stderr.write(`kaa-peer ${mode}: ${e.message}\n`);
  process.exit(1);
});
