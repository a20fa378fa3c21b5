// The Demo dynamic service for Switchboard: scripts of a solution call it to call other
// services (callService) and to trigger its event (triggerEvent). See README.md and
// docs/service-protocol.md of the Switchboard repository.
//
// Environment:
//   SWITCHBOARD_URL                     the hub (default http://127.0.0.1:8080)
//   SWITCHBOARD_REGISTRATION_TOKEN      the hub's registration token, or
//   SWITCHBOARD_REGISTRATION_TOKEN_FILE a file holding it (default ../../data/registration-token)
//   SWITCHBOARD_SERVICE_TOKEN           the service token of an earlier registration, or
//   SWITCHBOARD_SERVICE_TOKEN_FILE      the file that keeps it across restarts (default
//                                       demoexternalservice.token; the hub updates a registered
//                                       service only for its own token)
//   PORT                                the port to listen on (default 8091)
//   SERVICE_HOST                        the host the hub reaches the service at (default 127.0.0.1)
//   LOCAL_NAMESPACE, PLATFORM_NAMESPACE the Kubernetes namespaces of the service and of the hub,
//                                       when they differ (optional)
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const express = require('express');

const NAME = 'demoexternalservice';
const HUB = (process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const PORT = Number(process.env.PORT || 8091);
const SERVICE_HOST = process.env.SERVICE_HOST || '127.0.0.1';
const MAX_CLOCK_SKEW_SECONDS = 5 * 60;

// The document, with the host the hub reaches the service at. With LOCAL_NAMESPACE the hub
// uses {name}.{namespace}:{port} instead; the port is still taken from here.
const swagger = fs
  .readFileSync(path.join(__dirname, 'swagger.yaml'), 'utf8')
  .replace(/^host:.*$/m, `host: ${SERVICE_HOST}:${PORT}`);

function registrationToken() {
  if (process.env.SWITCHBOARD_REGISTRATION_TOKEN) return process.env.SWITCHBOARD_REGISTRATION_TOKEN.trim();
  const file = process.env.SWITCHBOARD_REGISTRATION_TOKEN_FILE || '../../data/registration-token';
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    console.error(`no registration token: set SWITCHBOARD_REGISTRATION_TOKEN, or SWITCHBOARD_REGISTRATION_TOKEN_FILE to the hub's data/registration-token (${err.message})`);
    process.exit(1);
  }
}

// The token the hub answers the registration with: it signs its calls with it, and the
// service presents it when it calls the hub.
let serviceToken = '';

// The token of an earlier registration, kept in TOKEN_FILE across restarts: the hub updates a
// registered name only for a registration presenting it (X-Switchboard-Service-Token).
const TOKEN_FILE = process.env.SWITCHBOARD_SERVICE_TOKEN_FILE || `${NAME}.token`;

function priorToken() {
  if (process.env.SWITCHBOARD_SERVICE_TOKEN) return process.env.SWITCHBOARD_SERVICE_TOKEN.trim();
  try {
    return fs.readFileSync(TOKEN_FILE, 'utf8').trim();
  } catch (err) {
    if (err.code === 'ENOENT') return ''; // the first registration writes it
    throw err;
  }
}

// keepToken writes the token to TOKEN_FILE (owner-readable only), replacing it at once.
function keepToken(token) {
  const tmp = `${TOKEN_FILE}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  fs.renameSync(tmp, TOKEN_FILE);
}

class HubError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// --- Registration ------------------------------------------------------------------------

// register posts the registration until the hub answers, with exponential backoff (0.5 s
// doubling up to 30 s, with jitter). A refusal (401, 422) is final.
async function register() {
  const body = JSON.stringify({
    name: NAME,
    swagger, // the YAML text as a JSON string
    namespace: process.env.LOCAL_NAMESPACE || undefined,
    platform_namespace: process.env.PLATFORM_NAMESPACE || undefined,
  });
  const token = registrationToken();
  let prior = priorToken();
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    let status = 0;
    let reason;
    try {
      const res = await fetch(`${HUB}/api/v1/register/`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          ...(prior ? { 'x-switchboard-service-token': prior } : {}),
        },
        body,
        signal: AbortSignal.timeout(30000),
      });
      status = res.status;
      const answer = await res.json().catch(() => ({}));
      if (status === 200 || status === 201) {
        serviceToken = answer.token;
        if (answer.token !== prior) {
          try {
            keepToken(answer.token);
          } catch (err) {
            console.error(`could not keep the service token in ${TOKEN_FILE}: ${err.message}`);
          }
          prior = answer.token;
        }
        console.log(`registered with ${HUB}: ${answer.status}`);
        return;
      }
      reason = `HTTP ${status}: ${answer.error || res.statusText}${answer.field ? ` (field ${answer.field})` : ''}`;
      if (status < 500 && ![408, 425, 429].includes(status)) {
        throw new HubError(status, `the hub refused the registration: ${reason}`);
      }
    } catch (err) {
      if (err instanceof HubError) throw err;
      reason = reason || err.message;
    }
    const wait = delay / 2 + Math.random() * (delay / 2);
    console.warn(`registration attempt ${attempt} failed (${reason}), retrying in ${Math.round(wait)} ms`);
    await new Promise((resolve) => setTimeout(resolve, wait));
    delay = Math.min(delay * 2, 30000);
  }
}

// --- Calls to the hub --------------------------------------------------------------------

async function postToHub(urlPath, payload) {
  if (!serviceToken) throw new HubError(503, 'the service is not registered yet');
  const res = await fetch(HUB + urlPath, {
    method: 'POST',
    headers: { authorization: `${NAME} ${serviceToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(payload ?? {}),
  });
  const text = await res.text();
  let answer = null;
  try {
    answer = text ? JSON.parse(text) : null;
  } catch {
    answer = null;
  }
  if (!res.ok) throw new HubError(res.status, (answer && answer.error) || text || res.statusText);
  return answer;
}

// callHub calls operation of a platform service for solution: POST /api/v1/call/{solution}/{service}/{operation}.
function callHub(solution, service, operation, args) {
  const p = [solution, service, operation].map(encodeURIComponent).join('/');
  return postToHub(`/api/v1/call/${p}`, args);
}

// triggerHub triggers this service's event for solution: POST /api/v1/trigger/{solution}/{service}/{event}.
function triggerHub(solution, event, data, async) {
  const p = [solution, NAME, event].map(encodeURIComponent).join('/');
  return postToHub(`/api/v1/trigger/${p}${async ? '?mode=async' : ''}`, data);
}

// --- Calls from the hub ------------------------------------------------------------------

// verifySignature checks that a call was signed by the hub with the service token:
// X-Switchboard-Signature is v1=hex(HMAC-SHA256(token, timestamp \n METHOD \n URI \n body)).
function verifySignature(req, res, next) {
  const ts = req.get('x-switchboard-timestamp') || '';
  const sigs = req.get('x-switchboard-signature') || '';
  if (!serviceToken) return res.status(503).json({ error: 'the service is not registered yet' });
  if (!/^\d+$/.test(ts) || !sigs) return res.status(401).json({ error: 'the request is not signed by the hub' });
  if (Math.abs(Date.now() / 1000 - Number(ts)) > MAX_CLOCK_SKEW_SECONDS) {
    return res.status(401).json({ error: "the request's timestamp is too far from now" });
  }
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const mac = crypto.createHmac('sha256', serviceToken);
  mac.update(`${ts}\n${req.method}\n${req.originalUrl}\n`);
  mac.update(body);
  const want = Buffer.from(`v1=${mac.digest('hex')}`);
  const good = sigs.split(',').some((s) => {
    const got = Buffer.from(s.trim());
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  });
  if (!good) return res.status(401).json({ error: 'the request is not signed by the hub' });
  try {
    req.args = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch {
    return res.status(400).json({ error: 'the body is not valid JSON' });
  }
  next();
}

// handle wraps an operation: its result is answered as JSON (204 when undefined), a thrown
// error as {"error"} with its status (500 by default).
function handle(fn) {
  return async (req, res) => {
    try {
      const result = await fn(req.args || {}, req.get('x-switchboard-solution') || '', req);
      if (result === undefined) return res.status(204).end();
      res.status(200).json(result);
    } catch (err) {
      const status = err.status >= 400 && err.status <= 599 ? err.status : 500;
      if (status >= 500) console.error(`${req.method} ${req.path}: ${err.stack || err}`);
      res.status(status).json({ error: err.message });
    }
  };
}

const app = express();
app.disable('x-powered-by');

// The health path (x-exosite-health-path), never signed: the hub probes it before accepting
// the registration.
app.get('/health', (req, res) => res.json({ status: 'ok' }));

// Every other route needs the raw body for the signature.
app.use(express.raw({ type: () => true, limit: '10mb' }), verifySignature);

// callService({service, operation, args}): Demoexternalservice.callService({service="Keystore", operation="get", args="my-key"})
app.post('/callService', handle(async (args, solution) => {
  const { operation } = args;
  let { service, args: callArgs } = args;
  if (typeof service !== 'string' || !service || typeof operation !== 'string' || !operation) {
    throw new HubError(400, 'service and operation are required');
  }
  if (!solution) throw new HubError(400, 'the call names no solution (X-Switchboard-Solution)');
  service = service.toLowerCase(); // scripts use the alias (Keystore), the hub the name (keystore)
  if (callArgs === undefined || callArgs === null) {
    callArgs = {};
  } else if (typeof callArgs === 'string' && service === 'keystore') {
    callArgs = { key: callArgs }; // "my-key" is {key: "my-key"} for the Keystore
  } else if (typeof callArgs !== 'object' || Array.isArray(callArgs)) {
    throw new HubError(400, 'args must be an object (a string is taken as the key of a Keystore operation)');
  }
  return callHub(solution, service, operation, callArgs);
}));

// triggerEvent({service, event, data, async}): Demoexternalservice.triggerEvent({service="demoexternalservice", event="event"})
app.post('/triggerEvent', handle(async (args, solution) => {
  const { service, event, data, async } = args;
  if (typeof event !== 'string' || !event) throw new HubError(400, 'event is required');
  if (service && String(service).toLowerCase() !== NAME) {
    throw new HubError(403, `${NAME} can only trigger its own events, not ${service}'s`);
  }
  if (!solution) throw new HubError(400, 'the call names no solution (X-Switchboard-Solution)');
  return triggerHub(solution, event, data, async === true);
}));

// init and gc (x-exosite-init, x-exosite-gc): a solution adds or removes the service.
app.put('/solutions/:solution', handle(async (args, solution, req) => {
  console.log(`solution ${req.params.solution} added the service`);
}));
app.delete('/solutions/:solution', handle(async (args, solution, req) => {
  console.log(`solution ${req.params.solution} removed the service`);
}));

app.use((req, res) => res.status(404).json({ error: `no operation at ${req.path}` }));

// Listen first, then register: the hub probes the health path before it answers.
const server = app.listen(PORT, () => {
  console.log(`${NAME} listening on :${PORT}, registering with ${HUB}`);
  register().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
