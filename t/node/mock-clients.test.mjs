// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The mod_aoproxy authors (LICENSE)
// The mock Azure's Responses API as the real clients see it: the official SDK's
// responses.* calls and the Vercel AI SDK's default provider, straight at the mock
// (MOCK_V1_URL = http://127.0.0.1:PORT/openai/v1).  The gateway's own Responses
// tests can then trust that what the mock answers is what these clients accept.
import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const base = process.env.MOCK_V1_URL;
const model = process.env.MODEL;
const name = process.env.MOCK_NAME;
const text = `mock:${name}:${model}`;

test("official SDK: create, chain, stream, items, retrieve, delete", async () => {
  const c = new OpenAI({ baseURL: base, apiKey: "unused" });
  const r1 = await c.responses.create({ model, input: "hello there, mock" });
  assert.equal(r1.output_text, text);
  const r2 = await c.responses.create({ model, input: "abcdefgh", previous_response_id: r1.id });
  assert.equal(r2.usage.input_tokens, 2 + r1.usage.total_tokens);
  let deltas = "", usage = null;
  for await (const ev of await c.responses.create({ model, input: "s", stream: true })) {
    if (ev.type === "response.output_text.delta") deltas += ev.delta;
    if (ev.type === "response.completed") usage = ev.response.usage;
  }
  assert.equal(deltas, text);
  assert.equal(usage.total_tokens, 2);
  const items = await c.responses.inputItems.list(r1.id);
  assert.equal(items.data.length, 1);
  assert.equal((await c.responses.retrieve(r2.id)).id, r2.id);
  await c.responses.delete(r1.id);
  await assert.rejects(c.responses.retrieve(r1.id), (e) => e.status === 404);
});

test("Vercel AI SDK default provider: generateText and streamText", async () => {
  const openai = createOpenAI({ baseURL: base, apiKey: "unused" });
  const g = await generateText({ model: openai(model), prompt: "hi" });
  assert.equal(g.text, text);
  assert.equal(g.usage.totalTokens, 2);
  const s = streamText({ model: openai(model), prompt: "hi" });
  let t = "";
  for await (const p of s.textStream) t += p;
  assert.equal(t, text);
  assert.equal((await s.usage).totalTokens, 2);
});
