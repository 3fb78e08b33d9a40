'use strict';
// A Kubeless-style function server for Node.js on the http module alone (no
// npm packages). Calls run concurrently on the event loop: a function that
// awaits does not hold up the others.
//
// Environment:
//   MOD_NAME       module to require, without ".js", from KUBELESS_DIR (required)
//   FUNC_HANDLER   exported function of that module to call (required)
//   KUBELESS_DIR   directory of the function (default /kubeless)
//   RUNTIME_PORT   port on 127.0.0.1 (default 8090, where the proxy forwards)
//   FUNC_TIMEOUT, FUNC_RUNTIME, FUNC_MEMORY_LIMIT   passed to the function in context
//
// Any method on any path but /healthz calls handler(event, context) and awaits
// what it returns; the result is the body (a string as is, a Buffer as bytes,
// null/undefined as nothing, anything else as JSON). A throw or a rejected
// promise answers 500 with the error's message. Timeouts are left to the proxy
// in front. One line per request on stdout:  2024/05/01 12:00:00 GET /path?q=1 200

const crypto = require('crypto');
const http = require('http');
const path = require('path');

function setting(name, fallback) {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

function fail(message) {
  console.error(`kubeless.js: ${message}`);
  process.exit(1);
}

const modName = setting('MOD_NAME') || fail('MOD_NAME is not set');
const handlerName = setting('FUNC_HANDLER') || fail('FUNC_HANDLER is not set');
const functionFile = path.resolve(setting('KUBELESS_DIR', '/kubeless'), `${modName}.js`);
const port = Number.parseInt(setting('RUNTIME_PORT', '8090'), 10);

let userFunction;
try {
  userFunction = require(functionFile)[handlerName];
} catch (error) {
  fail(`cannot load ${functionFile}: ${error && error.stack ? error.stack : error}`);
}
if (typeof userFunction !== 'function') fail(`${functionFile} exports no function ${handlerName}`);

const context = Object.freeze({
  'function-name': modName,
  timeout: setting('FUNC_TIMEOUT', '180'),
  runtime: setting('FUNC_RUNTIME', `nodejs${process.versions.node.split('.')[0]}`),
  'memory-limit': setting('FUNC_MEMORY_LIMIT', null),
});

const pad = (n) => String(n).padStart(2, '0');

// Local time, as the request log's date: 2024/05/01 12:00:00
function logDate(d = new Date()) {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// UTC, in the form Kubeless gives event-time: 2024-05-01 12:00:00 +0000 UTC
function eventTime(d = new Date()) {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000 UTC`;
}

function eventFor(req, body) {
  let data = body.toString('utf8');
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (data !== '' && /^application\/(.+\+)?json$/.test(type)) {
    try {
      data = JSON.parse(data);
    } catch (_) {
      // Not JSON after all: the function gets the text.
    }
  }
  const header = (name) => req.headers[name] || undefined;
  return {
    data,
    'event-id': header('event-id') || crypto.randomBytes(11).toString('hex'),
    'event-type': header('event-type') || 'application/json',
    'event-time': header('event-time') || eventTime(),
    'event-namespace': header('event-namespace') || 'cli.kubeless.io',
    extensions: { request: req },
  };
}

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// The response for a function's result: [content type, body].
function encode(result) {
  if (typeof result === 'string') return ['text/plain; charset=utf-8', result];
  if (Buffer.isBuffer(result)) return ['application/octet-stream', result];
  const json = result === undefined || result === null ? undefined : JSON.stringify(result);
  return json === undefined ? ['text/plain; charset=utf-8', ''] : ['application/json', json];
}

async function callFunction(req, res, body) {
  let answer;
  try {
    answer = encode(await userFunction(eventFor(req, body), context));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`kubeless.js: ${handlerName} failed: ${error instanceof Error ? error.stack : message}`);
    send(res, 500, 'text/plain; charset=utf-8', `${message}\n`);
    return;
  }
  send(res, 200, answer[0], answer[1]);
}

const server = http.createServer((req, res) => {
  res.on('finish', () => console.log(`${logDate()} ${req.method} ${req.url} ${res.statusCode}`));
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('error', () => res.destroy());
  req.on('end', () => {
    if (req.url.split('?')[0] === '/healthz') {
      send(res, 200, 'text/plain; charset=utf-8', 'OK');
      return;
    }
    callFunction(req, res, Buffer.concat(chunks)).catch((error) => {
      console.error(`kubeless.js: cannot answer: ${error && error.stack ? error.stack : error}`);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
});

server.on('error', (error) => fail(`cannot listen on 127.0.0.1:${port}: ${error.message}`));
server.listen(port, '127.0.0.1');
