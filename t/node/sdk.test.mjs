// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The mod_aoproxy authors (LICENSE)
// mod_aoproxy end-to-end tests with the official OpenAI Node SDK.
//
// Run with Node's built-in runner:  node --test t/node/sdk.test.mjs
// Configured only from the environment (see README.md in this folder):
//   AOPROXY_URL       proxy base, e.g. http://127.0.0.1:8080/v1   (unset: proxy tests skip)
//   MOCK_URL          mock Azure base, e.g. http://127.0.0.1:9000  (unset: mock tests skip)
//   MOCK_API_KEY      the api-key the proxy must send upstream (and the mock checks)
//   MOCK_API_VERSION  the api-version the proxy must send upstream
//   MODEL, DEPLOYMENT               chat/completions model name and the mock deployment it maps to
//   EMBED_MODEL, EMBED_DEPLOYMENT   same for embeddings

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AzureOpenAI, NotFoundError, BadRequestError, RateLimitError } from 'openai';

// Keep the SDK from picking up stray configuration of the machine it runs on.
for (const v of ['OPENAI_BASE_URL', 'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID', 'AZURE_OPENAI_ENDPOINT',
  'OPENAI_API_VERSION', 'OPENAI_LOG']) {
  delete process.env[v];
}

const env = process.env;
const AOPROXY_URL = (env.AOPROXY_URL || '').replace(/\/+$/, '');
const MOCK_URL = (env.MOCK_URL || '').replace(/\/+$/, '');
const MOCK_API_KEY = env.MOCK_API_KEY || 'mock-api-key';
const MOCK_API_VERSION = env.MOCK_API_VERSION || '2024-10-21';
const MODEL = env.MODEL || 'gpt-4o-mini';
const DEPLOYMENT = env.DEPLOYMENT || MODEL;
const EMBED_MODEL = env.EMBED_MODEL || 'text-embedding-3-small';
const EMBED_DEPLOYMENT = env.EMBED_DEPLOYMENT || EMBED_MODEL;

const CLIENT_KEY = 'client-side-key';
const SKIP_PROXY = AOPROXY_URL ? false : 'AOPROXY_URL is not set: proxy tests skipped';
const SKIP_MOCK = MOCK_URL ? false : 'MOCK_URL is not set: mock tests skipped';
const SKIP_WIRE = SKIP_PROXY || SKIP_MOCK;

if (SKIP_PROXY) console.log(`# ${SKIP_PROXY}`);
if (SKIP_MOCK) console.log(`# ${SKIP_MOCK}`);

const MESSAGES = [
  { role: 'system', content: 'You are a test fixture.' },
  { role: 'user', content: 'Please say something deterministic.' },
];
const CHAT_PARAMS = { model: MODEL, messages: MESSAGES, temperature: 0.2, max_tokens: 50 };

// ---------------------------------------------------------------- clients

// maxRetries 0: a retried request would be recorded twice by the mock.
function proxyClient(extra = {}) {
  return new OpenAI({ baseURL: AOPROXY_URL, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 30_000, ...extra });
}

function azureClient(deployment = DEPLOYMENT, extra = {}) {
  return new AzureOpenAI({
    endpoint: MOCK_URL,
    apiKey: MOCK_API_KEY,
    apiVersion: MOCK_API_VERSION,
    deployment,
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: 30_000,
    ...extra,
  });
}

// ---------------------------------------------------------------- mock control

async function mockCall(path, method = 'GET', body = undefined) {
  const res = await fetch(MOCK_URL + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `mock ${method} ${path} -> ${res.status}: ${text}`);
  return JSON.parse(text);
}
const mockReset = () => mockCall('/_mock/reset', 'POST', {});
const mockRules = (rules) => mockCall('/_mock/rules', 'POST', { rules });
const mockRequests = async () => (await mockCall('/_mock/requests')).filter((r) => r.path.startsWith('/openai/'));

/** All values of a recorded header (case-insensitive name). */
function headerValues(rec, name) {
  const n = name.toLowerCase();
  return rec.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** Reset the mock, run fn, return [fn's result, the single request the mock saw]. */
async function captureOne(label, fn) {
  await mockReset();
  const result = await fn();
  const recs = await mockRequests();
  assert.equal(recs.length, 1,
    `${label}: expected exactly one upstream request, the mock saw ${recs.length}: ` +
    JSON.stringify(recs.map((r) => `${r.method} ${r.path}?${r.query} -> ${r.status}`)));
  return [result, recs[0]];
}

async function collectStream(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const deltas = [];
  let finish = null;
  let usage = null;
  for (const c of chunks) {
    if (c.usage) usage = c.usage;
    for (const ch of c.choices || []) {
      if (ch.delta && typeof ch.delta.content === 'string' && ch.delta.content !== '') deltas.push(ch.delta.content);
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  return { chunks, deltas, text: deltas.join(''), finish, usage };
}

/** Compare what the proxy sent upstream with what AzureOpenAI sent directly. */
function assertSameWire(direct, proxied, { allowIncludeUsage = false } = {}) {
  assert.equal(proxied.method, direct.method, 'method');
  assert.equal(proxied.path, direct.path, 'path');
  assert.deepEqual(proxied.params, direct.params, 'query parameters');
  assert.equal(proxied.params['api-version'], MOCK_API_VERSION);

  let body = structuredClone(proxied.json);
  assert.ok(body && typeof body === 'object', `proxied body is not JSON: ${proxied.body.slice(0, 200)}`);
  if (allowIncludeUsage && !('stream_options' in direct.json) && 'stream_options' in body) {
    assert.deepEqual(body.stream_options, { include_usage: true },
      'the only stream_options the proxy may add is {"include_usage":true}');
    delete body.stream_options;
  }
  assert.deepEqual(body, direct.json, 'JSON body');

  assert.deepEqual(headerValues(direct, 'api-key'), [MOCK_API_KEY], 'direct api-key');
  assert.deepEqual(headerValues(proxied, 'api-key'), [MOCK_API_KEY], 'proxied api-key');
  assert.deepEqual(headerValues(proxied, 'authorization'), [], 'proxied request must not carry Authorization');
  assert.deepEqual(headerValues(proxied, 'openai-organization'), [], 'no openai-organization upstream');
  assert.deepEqual(headerValues(proxied, 'openai-project'), [], 'no openai-project upstream');
  const ctype = headerValues(proxied, 'content-type');
  assert.equal(ctype.length, 1, 'one Content-Type');
  assert.match(ctype[0], /^application\/json/i);
  for (const [k, v] of proxied.headers) {
    assert.ok(!String(v).includes(CLIENT_KEY), `client key leaked upstream in header ${k}`);
  }
}

// ---------------------------------------------------------------- 0. the SDK directly against the mock

// Skips are set per test (not per suite) so that the runner counts them as skipped tests.
const mtest = (name, fn) => test(name, { skip: SKIP_MOCK }, fn);
const ptest = (name, fn) => test(name, { skip: SKIP_PROXY }, fn);
const wtest = (name, fn) => test(name, { skip: SKIP_WIRE }, fn);

describe('AzureOpenAI SDK directly against the mock', () => {
  mtest('chat completion', async () => {
    const r = await azureClient().chat.completions.create(CHAT_PARAMS);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    assert.match(r.choices[0].message.content, /^mock:/);
    assert.ok(r.choices[0].message.content.endsWith(`:${DEPLOYMENT}`));
    const chars = MESSAGES.reduce((n, m) => n + m.content.length, 0);
    assert.equal(r.usage.prompt_tokens, Math.max(1, Math.floor(chars / 4)));
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  mtest('streamed chat, with and without include_usage', async () => {
    const client = azureClient();
    const full = await client.chat.completions.create(CHAT_PARAMS);
    const s1 = await collectStream(await client.chat.completions.create({ ...CHAT_PARAMS, stream: true }));
    assert.ok(s1.deltas.length >= 2, `several content deltas expected, got ${s1.deltas.length}`);
    assert.equal(s1.text, full.choices[0].message.content);
    assert.equal(s1.finish, 'stop');
    assert.equal(s1.usage, null);
    const s2 = await collectStream(await client.chat.completions.create({
      ...CHAT_PARAMS, stream: true, stream_options: { include_usage: true },
    }));
    assert.equal(s2.text, full.choices[0].message.content);
    assert.deepEqual(s2.usage, full.usage);
  });

  mtest('legacy completions', async () => {
    const r = await azureClient().completions.create({ model: MODEL, prompt: 'Say this is a test', max_tokens: 7 });
    assert.equal(r.object, 'text_completion');
    assert.match(r.choices[0].text, /^mock:/);
  });

  mtest('embeddings (base64 default and float)', async () => {
    const client = azureClient(EMBED_DEPLOYMENT);
    const b = await client.embeddings.create({ model: EMBED_MODEL, input: ['alpha', 'beta'] });
    assert.equal(b.data.length, 2);
    for (const d of b.data) assert.equal(d.embedding.length, 8);
    const f = await client.embeddings.create({ model: EMBED_MODEL, input: ['alpha', 'beta'], encoding_format: 'float' });
    assert.deepEqual(b.data.map((d) => Array.from(d.embedding)), f.data.map((d) => d.embedding));
  });

  mtest('scripted 429 surfaces as RateLimitError', async () => {
    await mockReset();
    try {
      await mockRules([{ status: 429, times: 1, headers: { 'Retry-After': '1', 'retry-after-ms': '1000' } }]);
      await assert.rejects(azureClient().chat.completions.create(CHAT_PARAMS), (err) => {
        assert.ok(err instanceof RateLimitError, String(err));
        assert.equal(err.status, 429);
        assert.equal(err.headers.get('retry-after-ms'), '1000');
        return true;
      });
    } finally {
      await mockReset();
    }
  });
});

// ---------------------------------------------------------------- 1. the OpenAI SDK through the proxy

describe('OpenAI SDK through mod_aoproxy', () => {
  let client;
  before(() => { if (!SKIP_PROXY) client = proxyClient(); });

  ptest('chat completion', async () => {
    const r = await client.chat.completions.create(CHAT_PARAMS);
    assert.equal(r.object, 'chat.completion');
    assert.match(r.choices[0].message.content, /^mock:/);
    assert.ok(r.usage, 'usage present');
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  ptest('streamed chat equals the non-streamed answer', async () => {
    const full = await client.chat.completions.create(CHAT_PARAMS);
    const s = await collectStream(await client.chat.completions.create({ ...CHAT_PARAMS, stream: true }));
    assert.ok(s.deltas.length >= 2, `several content deltas expected, got ${s.deltas.length}`);
    assert.equal(s.text, full.choices[0].message.content);
    assert.equal(s.finish, 'stop', 'stream ended with finish_reason "stop"');
  });

  ptest('streamed chat ends with [DONE] on the wire', async () => {
    const res = await client.chat.completions.create({ ...CHAT_PARAMS, stream: true }).asResponse();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') || '', /^text\/event-stream/);
    const text = await res.text();
    const events = text.split(/\r?\n\r?\n/).filter((e) => e.trim() !== '');
    assert.ok(events.length >= 4, `too few events: ${events.length}`);
    assert.equal(events[events.length - 1].trim(), 'data: [DONE]');
  });

  ptest('streamed chat with include_usage', async () => {
    const full = await client.chat.completions.create(CHAT_PARAMS);
    const s = await collectStream(await client.chat.completions.create({
      ...CHAT_PARAMS, stream: true, stream_options: { include_usage: true },
    }));
    assert.equal(s.text, full.choices[0].message.content);
    assert.ok(s.usage, 'usage chunk present');
    assert.deepEqual(s.usage, full.usage);
  });

  ptest('legacy completions', async () => {
    const r = await client.completions.create({ model: MODEL, prompt: 'Say this is a test', max_tokens: 7 });
    assert.equal(r.object, 'text_completion');
    assert.match(r.choices[0].text, /^mock:/);
    assert.ok(r.usage && r.usage.total_tokens > 0);
  });

  ptest('embeddings (SDK default base64 encoding)', async () => {
    const r = await client.embeddings.create({ model: EMBED_MODEL, input: ['first text', 'second text'] });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 2);
    for (const [i, d] of r.data.entries()) {
      assert.equal(d.index, i);
      assert.equal(d.embedding.length, 8);
      assert.ok(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
    }
    assert.ok(r.usage && r.usage.prompt_tokens > 0);
  });

  wtest('embeddings equal those fetched directly from the mock', async () => {
    const input = ['same vector please'];
    const viaProxy = await client.embeddings.create({ model: EMBED_MODEL, input });
    const direct = await azureClient(EMBED_DEPLOYMENT).embeddings.create({ model: EMBED_MODEL, input });
    assert.deepEqual(Array.from(viaProxy.data[0].embedding), Array.from(direct.data[0].embedding));
  });
});

// ---------------------------------------------------------------- 2. wire comparison

describe('wire comparison: proxy upstream request == AzureOpenAI SDK request', () => {
  // The proxied client also sends OpenAI-Organization / OpenAI-Project, which must not go upstream.
  const viaProxy = () => proxyClient({ organization: 'org-client-side', project: 'proj-client-side' });

  wtest('chat completion', async () => {
    const [, direct] = await captureOne('direct chat', () => azureClient().chat.completions.create(CHAT_PARAMS));
    const [, proxied] = await captureOne('proxied chat', () => viaProxy().chat.completions.create(CHAT_PARAMS));
    assert.equal(direct.path, `/openai/deployments/${DEPLOYMENT}/chat/completions`);
    assertSameWire(direct, proxied);
  });

  wtest('embeddings', async () => {
    const params = { model: EMBED_MODEL, input: ['wire one', 'wire two'] };
    const [, direct] = await captureOne('direct embeddings',
      () => azureClient(EMBED_DEPLOYMENT).embeddings.create(params));
    const [, proxied] = await captureOne('proxied embeddings', () => viaProxy().embeddings.create(params));
    assert.equal(direct.path, `/openai/deployments/${EMBED_DEPLOYMENT}/embeddings`);
    assert.equal(direct.json.encoding_format, 'base64');
    assertSameWire(direct, proxied);
  });

  wtest('streamed chat', async () => {
    const params = { ...CHAT_PARAMS, stream: true };
    const [sd, direct] = await captureOne('direct stream',
      async () => collectStream(await azureClient().chat.completions.create(params)));
    const [sp, proxied] = await captureOne('proxied stream',
      async () => collectStream(await viaProxy().chat.completions.create(params)));
    assertSameWire(direct, proxied, { allowIncludeUsage: true });
    assert.equal(sp.text, sd.text);
  });
});

// ---------------------------------------------------------------- 3. errors through the proxy

describe('errors through mod_aoproxy', () => {
  ptest('unknown model -> 404 NotFoundError, code model_not_found, nothing sent upstream', async () => {
    if (MOCK_URL) await mockReset();
    await assert.rejects(
      proxyClient().chat.completions.create({ ...CHAT_PARAMS, model: 'no-such-model-for-aoproxy' }),
      (err) => {
        assert.ok(err instanceof NotFoundError, `expected NotFoundError, got ${err}`);
        assert.equal(err.status, 404);
        assert.ok(err.error, 'error body present');
        assert.equal(err.error.code, 'model_not_found');
        return true;
      });
    if (MOCK_URL) assert.equal((await mockRequests()).length, 0, 'unknown model must not reach the mock');
  });

  ptest('request without model -> 400', async () => {
    const { model, ...noModel } = CHAT_PARAMS;
    await assert.rejects(proxyClient().chat.completions.create(noModel), (err) => {
      assert.ok(err instanceof BadRequestError, `expected BadRequestError, got ${err}`);
      assert.equal(err.status, 400);
      return true;
    });
  });

  ptest('body that is not JSON -> 400', async () => {
    const res = await fetch(`${AOPROXY_URL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
      body: '{"model": "' + MODEL + '", "messages": [',
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.ok(body.error && typeof body.error.message === 'string', JSON.stringify(body));
  });
});
