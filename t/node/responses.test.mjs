// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The mod_aoproxy authors (LICENSE)
// The Responses API, Azure-shaped clients and the Vercel AI SDK through mod_aoproxy
// (issue 16, items 1-4), driven by t/e2e/test_responses_sdk.py:
//
//   AOPROXY     the gateway's root URL (no path), e.g. http://127.0.0.1:8080
//   MOCK_A/B    the two mock Azure instances that both serve MODEL (A dated, B v1 API)
//   TEXT_A/B    what each answers (mock:{name}:{deployment})
//   MODEL, EMBED_MODEL, EMBED_TEXT   the chat/responses model; the embeddings model (A only)
//   TURN_LOG    an access log with "<x-aop-turn header> <pid>" per request
//   MPM         event or prefork
//
// Two instances serve MODEL and the gateway alternates between them (equal priority),
// while each mock holds only the responses it made (404 / 400 previous_response_not_found
// for any other): so a call the gateway sent to the wrong instance shows at once in the
// mocks' records, even where a lookup across instances would hide it from the client.
// assertRouted() checks every Responses call each mock saw against who made the id.

import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import OpenAI, { AzureOpenAI, NotFoundError } from 'openai';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';

for (const v of ['OPENAI_BASE_URL', 'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID', 'AZURE_OPENAI_ENDPOINT',
  'OPENAI_API_VERSION', 'OPENAI_LOG', 'AZURE_OPENAI_API_KEY', 'OPENAI_API_KEY']) {
  delete process.env[v];
}

const env = process.env;
const AOPROXY = (env.AOPROXY || '').replace(/\/+$/, '');
const MOCKS = { a: env.MOCK_A, b: env.MOCK_B };
const TEXTS = { a: env.TEXT_A, b: env.TEXT_B };
const MODEL = env.MODEL;
const EMBED_MODEL = env.EMBED_MODEL;
const TURN_LOG = env.TURN_LOG;
const MPM = env.MPM;
const CLIENT_KEY = 'client-key-must-not-reach-azure-7c1d';
// the AzureOpenAI client's api-version: accepted, and replaced by the instance's
const API_VERSION = '2024-06-01';
const A_API_VERSION = env.A_API_VERSION;

for (const [k, v] of Object.entries({ AOPROXY, A_API_VERSION, MOCK_A: MOCKS.a, MOCK_B: MOCKS.b, TEXT_A: TEXTS.a,
  TEXT_B: TEXTS.b, MODEL, EMBED_MODEL, TURN_LOG, MPM })) {
  if (!v) throw new Error(`${k} is not set (t/e2e/test_responses_sdk.py sets it)`);
}

// ---------------------------------------------------------------- mocks and routing checks

async function mockCall(which, path, method = 'GET', body = undefined) {
  const res = await fetch(MOCKS[which] + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `mock ${which} ${method} ${path} -> ${res.status}: ${text}`);
  return JSON.parse(text);
}
const resetMocks = () => Promise.all(['a', 'b'].map((m) => mockCall(m, '/_mock/reset', 'POST', {})));
const mockRules = (which, rules) => mockCall(which, '/_mock/rules', 'POST', { rules });
const records = async (which) => (await mockCall(which, '/_mock/requests'))
  .filter((r) => r.path.startsWith('/openai/'));

// id -> 'a' | 'b': the mock that made each response these tests created.
const owner = new Map();
// "mock METHOD path status" of the failures a test expects (cleared before each test).
const allowed = new Set();
const resetAll = () => { allowed.clear(); return resetMocks(); };

/** Which mock made a response, from its output text; remembered for assertRouted. */
function own(resp, text = resp.output_text) {
  const who = Object.keys(TEXTS).find((k) => TEXTS[k] === text);
  assert.ok(who, `answer text ${JSON.stringify(text)} is neither ${TEXTS.a} nor ${TEXTS.b}`);
  owner.set(resp.id, who);
  return who;
}

const RESP_PATH = /^\/openai(?:\/v1)?\/responses(?:\/([^/]+)(?:\/(cancel|input_items))?)?$/;

/** Every Responses call a mock saw names (in its path, or as previous_response_id) only
 * ids that mock made, and answered 2xx; nothing carries the client's key. */
async function assertRouted() {
  for (const m of ['a', 'b']) {
    for (const r of await records(m)) {
      const hdrs = JSON.stringify(r.headers);
      assert.ok(!hdrs.includes(CLIENT_KEY), `the client's key reached mock ${m}: ${r.path}`);
      const match = RESP_PATH.exec(r.path);
      if (!match) continue;
      const id = match[1] || (r.json && r.json.previous_response_id);
      const what = `${r.method} ${r.path}?${r.query} at mock ${m} -> ${r.status}`;
      if (allowed.has(`${m} ${r.method} ${r.path} ${r.status}`)) continue;
      if (id) {
        assert.ok(owner.has(id), `${what}: an id these tests did not make`);
        assert.equal(owner.get(id), m, `${what}: sent to the wrong instance (mock ${owner.get(id)} made it)`);
      }
      // a Responses stream has no [DONE]: the mock records its normal end as no_done
      const ok = r.status >= 200 && r.status < 300 || r.status === 'no_done';
      assert.ok(ok, `${what}: not a success`);
    }
  }
}

/** The upstream path style of each mock: A is a dated instance, B a v1 one. */
function assertUpstreamStyle(m, r) {
  if (m === 'a') {
    assert.match(r.path, /^\/openai\/(responses|deployments\/)/, r.path);
    assert.ok(r.params['api-version'], `dated instance without api-version: ${r.path}`);
  } else {
    assert.match(r.path, /^\/openai\/v1\//, r.path);
    assert.equal(r.params['api-version'], undefined, `v1 instance got api-version: ${r.query}`);
  }
}

// ---------------------------------------------------------------- clients

/** A fetch over node:http through one Agent: a client with its own keep-alive Agent
 * holds its own connection (under prefork, its own child) until the Agent is destroyed. */
function agentFetch(agent, extraHeaders = {}) {
  return (url, init = {}) => new Promise((resolve, reject) => {
    const headers = { ...extraHeaders };
    new Headers(init.headers || {}).forEach((v, k) => { headers[k] = v; });
    const req = http.request(new URL(url), { method: init.method || 'GET', headers, agent }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        for (const x of Array.isArray(v) ? v : [v]) h.append(k, x);
      }
      const empty = [204, 304].includes(res.statusCode) || init.method === 'HEAD';
      resolve(new Response(empty ? null : Readable.toWeb(res), { status: res.statusCode, headers: h }));
    });
    req.on('error', reject);
    if (init.signal) init.signal.addEventListener('abort', () => req.destroy(new Error('aborted')));
    req.end(init.body == null ? undefined : typeof init.body === 'string' ? init.body : Buffer.from(init.body));
  });
}

function proxyClient(extra = {}) {
  return new OpenAI({ baseURL: AOPROXY + '/v1', apiKey: CLIENT_KEY, maxRetries: 0, timeout: 30_000, ...extra });
}

function azureClient(extra = {}) {
  return new AzureOpenAI({ endpoint: AOPROXY, apiKey: CLIENT_KEY, apiVersion: API_VERSION,
    maxRetries: 0, timeout: 30_000, ...extra });
}

async function collect(stream) {
  const events = [];
  for await (const ev of stream) events.push(ev);
  return events;
}

/** A streamed response's typed events are well formed; returns [response, text]. */
function checkEvents(events) {
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'response.created', types.join(','));
  assert.equal(types[types.length - 1], 'response.completed', types.join(','));
  for (const t of ['response.in_progress', 'response.output_item.added', 'response.output_text.delta',
    'response.output_text.done', 'response.output_item.done']) {
    assert.ok(types.includes(t), `no ${t} in ${types.join(',')}`);
  }
  events.forEach((e, i) => assert.equal(e.sequence_number, i, `event ${i} (${e.type})`));
  const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
  const done = events[events.length - 1].response;
  assert.equal(done.status, 'completed');
  assert.equal(done.output[0].content[0].text, text);
  return [done, text];
}

/** Input tokens of the mock for a string input: max(1, chars / 4). */
const inTokens = (s) => Math.max(1, Math.floor(s.length / 4));

// ---------------------------------------------------------------- the official SDK, /v1

describe('Responses API with the official SDK at /v1', () => {
  beforeEach(resetAll);
  afterEach(assertRouted);

  test('responses.create: both instances serve, usage is the mock\'s', async () => {
    const c = proxyClient();
    const input = 'hello there, gateway';
    const seen = new Set();
    for (let i = 0; i < 4; i++) {
      const r = await c.responses.create({ model: MODEL, input });
      assert.equal(r.object, 'response');
      assert.equal(r.status, 'completed');
      assert.equal(r.model, MODEL, 'the mock answers the model behind the deployment');
      seen.add(own(r));
      assert.deepEqual([r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens],
        [inTokens(input), 1, inTokens(input) + 1]);
    }
    assert.deepEqual([...seen].sort(), ['a', 'b'], 'both instances take turns (equal priority)');
    for (const m of ['a', 'b']) {
      const recs = await records(m);
      assert.equal(recs.length, 2, `mock ${m}: ${recs.length} requests`);
      for (const r of recs) {
        assertUpstreamStyle(m, r);
        assert.match(r.path, /\/responses$/);
        assert.equal(r.json.model, m === 'a' ? 'dep-a' : 'dep-b', 'model is the deployment upstream');
        assert.equal(r.json.input, input);
      }
    }
  });

  test('responses.create streamed: typed events, response.completed with usage', async () => {
    const c = proxyClient();
    const input = 'stream me please';
    for (let i = 0; i < 2; i++) {
      const [done, text] = checkEvents(await collect(await c.responses.create({ model: MODEL, input, stream: true })));
      own(done, text);
      assert.deepEqual(done.usage, {
        input_tokens: inTokens(input), input_tokens_details: { cached_tokens: 0 },
        output_tokens: 1, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: inTokens(input) + 1,
      });
      // the stored stream's id is a real one: retrieve finds it where it was made
      const got = await c.responses.retrieve(done.id);
      assert.equal(got.output_text, text);
    }
  });

  test('previous_response_id chain: 4 turns, each on another connection, every turn where the last one was made', async () => {
    if (MPM === 'prefork') {
      // One chain, each turn on a new connection kept open until the chain ends:
      // each connection holds a prefork child, so 4 turns are 4 processes.
      const turns = await chain('held', 4, true);
      const pids = await turnPids(turns.map((t) => t.tag));
      assert.equal(new Set(pids).size, 4, `4 turns, 4 children expected, pids ${pids}`);
    } else {
      // Many chains at once, each request on a new connection, against a slow
      // backend: more requests are in flight than one event process has threads,
      // so several processes serve, and turns move from one to another.
      await mockRules('a', [{ path_suffix: 'responses', delay_ms: 150 }]);
      await mockRules('b', [{ path_suffix: 'responses', delay_ms: 150 }]);
      const chains = await Promise.all(Array.from({ length: 24 }, (_, k) => chain(`par${k}`, 4, false)));
      const tags = chains.flat().map((t) => t.tag);
      const pids = await turnPids(tags);
      const pidOf = new Map(tags.map((t, i) => [t, pids[i]]));
      assert.ok(new Set(pids).size >= 2, `several event processes expected, pids ${[...new Set(pids)]}`);
      let handoffs = 0;
      for (const ch of chains) {
        for (let i = 1; i < ch.length; i++) if (pidOf.get(ch[i].tag) !== pidOf.get(ch[i - 1].tag)) handoffs++;
      }
      assert.ok(handoffs >= 1, 'no turn was served by another process than the turn before');
      console.log(`# event: ${new Set(pids).size} processes, ${handoffs} cross-process turns`);
    }
  });

  test('retrieve, inputItems.list, delete', async () => {
    const c = proxyClient();
    const made = [];
    for (let i = 0; i < 2; i++) {
      const r = await c.responses.create({ model: MODEL, input: [{ role: 'user', content: `item ${i}` }] });
      own(r);
      made.push(r);
    }
    assert.notEqual(owner.get(made[0].id), owner.get(made[1].id));
    for (const r of made) {
      const got = await c.responses.retrieve(r.id);
      assert.equal(got.id, r.id);
      assert.equal(got.output_text, r.output_text);
      const items = await c.responses.inputItems.list(r.id, { limit: 5, order: 'asc' });
      assert.equal(items.data.length, 1);
      assert.equal(items.data[0].content[0].text, r === made[0] ? 'item 0' : 'item 1');
    }
    for (const m of ['a', 'b']) {
      const ii = (await records(m)).filter((x) => x.path.endsWith('/input_items'));
      assert.equal(ii.length, 1, `mock ${m}: input_items calls ${JSON.stringify(ii.map((x) => [x.path, x.status]))}`);
      assert.equal(ii[0].params.limit, '5', 'the query goes through');
      assert.equal(ii[0].params.order, 'asc');
      assertUpstreamStyle(m, ii[0]);
    }
    const del = await c.responses.delete(made[0].id);
    assert.deepEqual(del, { id: made[0].id, object: 'response.deleted', deleted: true });
    await assert.rejects(c.responses.retrieve(made[0].id), (e) => e instanceof NotFoundError && e.status === 404);
    // the DELETE went where it lives; the retrieve after it got that instance's 404
    // (a deleted id may be forgotten: then the other instance is asked too, and says 404)
    const m = owner.get(made[0].id);
    const other = m === 'a' ? 'b' : 'a';
    const mine = (await records(m)).filter((x) => x.path.endsWith(made[0].id));
    assert.deepEqual(mine.map((x) => `${x.method} ${x.status}`), ['GET 200', 'DELETE 200', 'GET 404']);
    const theirs = (await records(other)).filter((x) => x.path.includes(made[0].id));
    assert.ok(theirs.every((x) => x.method === 'GET' && x.status === 404), JSON.stringify(theirs));
    allowed.add(`${m} GET ${mine[2].path} 404`);
    for (const x of theirs) allowed.add(`${other} GET ${x.path} 404`);
  });

  test('background response: cancel', async () => {
    const c = proxyClient();
    await mockRules('a', [{ path_suffix: 'responses', background_ms: 20000 }]);
    await mockRules('b', [{ path_suffix: 'responses', background_ms: 20000 }]);
    const prevPosts = [0, 0];
    for (let i = 0; i < 2; i++) {
      const r = await c.responses.create({ model: MODEL, input: 'slow one', background: true });
      assert.equal(r.status, 'queued');
      // queued: no text yet; the mock whose POSTs grew made it
      const posts = await Promise.all(['a', 'b'].map(async (m) => (await records(m))
        .filter((x) => x.method === 'POST' && x.path.endsWith('/responses')).length));
      assert.equal(posts[0] + posts[1], i + 1);
      owner.set(r.id, posts[0] > prevPosts[0] ? 'a' : 'b');
      prevPosts.splice(0, 2, ...posts);
      assert.equal((await c.responses.retrieve(r.id)).status, 'in_progress');
      const x = await c.responses.cancel(r.id);
      assert.equal(x.id, r.id);
      assert.equal(x.status, 'cancelled');
      assert.equal((await c.responses.retrieve(r.id)).status, 'cancelled');
    }
    // one on each instance, each cancelled where it lives (assertRouted checks the ids)
    for (const m of ['a', 'b']) {
      const cancels = (await records(m)).filter((x) => x.path.endsWith('/cancel'));
      assert.equal(cancels.length, 1, `mock ${m}: ${cancels.length} cancels`);
      assert.equal(cancels[0].method, 'POST');
    }
  });
});

// ---------------------------------------------------------------- chains and processes

/** One chain of n turns; each on its own connection (held open until the chain ends
 * when `hold`, else closed after its request).  Returns [{id, tag}]. */
async function chain(name, n, hold) {
  const agents = [];
  const turns = [];
  let prev = null;
  let expectIn = 0;
  try {
    for (let i = 0; i < n; i++) {
      const agent = new http.Agent({ keepAlive: hold, maxSockets: 1 });
      agents.push(agent);
      const tag = `${name}-t${i}`;
      const c = proxyClient({ fetch: agentFetch(agent, hold ? {} : { connection: 'close' }) });
      const input = `turn ${i} of chain ${name}`;
      const body = { model: MODEL, input, ...(prev ? { previous_response_id: prev.id } : {}) };
      const r = await c.responses.create(body, { headers: { 'x-aop-turn': tag } });
      own(r);
      if (prev) {
        assert.equal(owner.get(r.id), owner.get(prev.id), `${tag}: continued on another instance`);
        assert.equal(r.previous_response_id, prev.id);
      }
      // the mock bills the conversation re-read: the previous total plus this input
      expectIn = inTokens(input) + (prev ? prev.usage.total_tokens : 0);
      assert.equal(r.usage.input_tokens, expectIn, `${tag}: usage`);
      turns.push({ id: r.id, tag });
      prev = r;
    }
  } finally {
    for (const a of agents) a.destroy();
  }
  return turns;
}

/** The pids that served the requests with these x-aop-turn tags (the harness's
 * TURN_LOG, written just after each answer: wait briefly for the last lines). */
async function turnPids(tags) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = fs.readFileSync(TURN_LOG, 'utf8').split('\n');
    const pid = new Map(lines.map((l) => l.split(' ')).filter((p) => p.length === 2));
    if (tags.every((t) => pid.has(t))) return tags.map((t) => pid.get(t));
    if (Date.now() > deadline) throw new Error(`turns missing from ${TURN_LOG}: ${tags.filter((t) => !pid.has(t))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------- Azure-shaped clients

describe('AzureOpenAI class and an OpenAI client at /openai/v1', () => {
  beforeEach(resetAll);
  afterEach(assertRouted);

  test('AzureOpenAI: chat.completions to /openai/deployments/{model}', async () => {
    const c = azureClient();
    const texts = new Set();
    for (let i = 0; i < 2; i++) {
      const r = await c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi azure' }] });
      texts.add(r.choices[0].message.content);
      assert.ok(r.usage.total_tokens > 0);
    }
    assert.deepEqual([...texts].sort(), [TEXTS.a, TEXTS.b].sort());
    const [ra] = await records('a');
    assert.equal(ra.path, '/openai/deployments/dep-a/chat/completions');
    assert.equal(ra.params['api-version'], A_API_VERSION, 'the instance\'s api-version, not the client\'s');
    assert.equal(ra.json.model, MODEL, 'dated: the body goes as the client sent it');
    const [rb] = await records('b');
    assert.equal(rb.path, '/openai/v1/chat/completions');
    assert.equal(rb.params['api-version'], undefined);
    assert.equal(rb.json.model, 'dep-b');
    for (const r of [ra, rb]) {
      const h = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]));
      assert.notEqual(h['api-key'], CLIENT_KEY);
      assert.equal(h.authorization, undefined);
    }
  });

  test('AzureOpenAI: embeddings to /openai/deployments/{model}/embeddings', async () => {
    const r = await azureClient().embeddings.create({ model: EMBED_MODEL, input: ['one', 'two'] });
    assert.equal(r.data.length, 2);
    assert.equal(r.data[0].embedding.length, 8);
    const recs = await records('a');
    assert.equal(recs.length, 1);
    assert.equal(recs[0].path, `/openai/deployments/${env.EMBED_DEPLOYMENT}/embeddings`);
    assert.equal((await records('b')).length, 0);
  });

  test('AzureOpenAI: responses.create to /openai/responses, streamed too, and retrieve', async () => {
    const c = azureClient();
    const seen = new Set();
    for (let i = 0; i < 2; i++) {
      const r = await c.responses.create({ model: MODEL, input: 'azure responses' });
      seen.add(own(r));
      assert.equal((await c.responses.retrieve(r.id)).output_text, r.output_text);
    }
    assert.equal(seen.size, 2);
    const [done, text] = checkEvents(await collect(await c.responses.create({ model: MODEL, input: 'x', stream: true })));
    own(done, text);
    const r2 = await c.responses.create({ model: MODEL, input: 'next', previous_response_id: done.id });
    assert.equal(own(r2), owner.get(done.id));
  });

  test('OpenAI client with baseURL /openai/v1: responses and chat', async () => {
    const c = new OpenAI({ baseURL: AOPROXY + '/openai/v1', apiKey: CLIENT_KEY, maxRetries: 0 });
    const r1 = await c.responses.create({ model: MODEL, input: 'first' });
    own(r1);
    const r2 = await c.responses.create({ model: MODEL, input: 'second', previous_response_id: r1.id });
    assert.equal(own(r2), owner.get(r1.id));
    const r3 = await c.responses.create({ model: MODEL, input: 'third', previous_response_id: r2.id });
    assert.equal(own(r3), owner.get(r1.id));
    assert.equal((await c.responses.inputItems.list(r3.id)).data[0].content[0].text, 'third');
    const chat = await c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.match(chat.choices[0].message.content, /^mock:[ab]:dep-[ab]$/);
  });
});

// ---------------------------------------------------------------- Vercel AI SDK

describe('Vercel AI SDK default provider (Responses API) at /v1', () => {
  beforeEach(resetAll);
  afterEach(assertRouted);

  test('generateText and streamText', async () => {
    const openai = createOpenAI({ baseURL: AOPROXY + '/v1', apiKey: CLIENT_KEY });
    const g = await generateText({ model: openai(MODEL), prompt: 'hi' });
    assert.ok(Object.values(TEXTS).includes(g.text), g.text);
    assert.equal(g.usage.inputTokens, 1);
    assert.equal(g.usage.outputTokens, 1);
    assert.equal(g.usage.totalTokens, 2);
    const s = streamText({ model: openai(MODEL), prompt: 'hi' });
    let t = '';
    for await (const p of s.textStream) t += p;
    assert.ok(Object.values(TEXTS).includes(t), t);
    assert.notEqual(t, g.text, 'the two calls went to both instances in turn');
    assert.equal((await s.usage).totalTokens, 2);
    const recs = [...await records('a'), ...await records('b')];
    assert.equal(recs.length, 2);
    for (const r of recs) assert.match(r.path, /\/responses$/);
    assert.deepEqual(recs.map((r) => r.json.stream === true).sort(), [false, true]);
  });
});
