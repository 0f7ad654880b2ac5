// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The mod_aoproxy authors (LICENSE)
// A stream cut mid-answer and resumed on another instance (stream_resume, issue 15
// item 9), as the official SDK sees it; driven by t/e2e/test_stream_resume.py:
//
//   AOPROXY   the gateway's root URL (no path)
//   MODEL     the model whose first instance cuts its stream (the test set the rules)
//   ANSWER    the whole answer the client must get
//
// The SDK's stream helper assembles the chunks into a final chat completion: one
// answer, its text whole, ended by the finish reason, with no error along the way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

for (const v of ['OPENAI_BASE_URL', 'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID', 'OPENAI_LOG']) {
  delete process.env[v];
}
const { AOPROXY, MODEL, ANSWER } = process.env;
for (const [k, v] of Object.entries({ AOPROXY, MODEL, ANSWER })) {
  if (!v) throw new Error(`${k} is not set (t/e2e/test_stream_resume.py sets it)`);
}

test('a resumed stream is one whole answer to the SDK', async () => {
  const client = new OpenAI({ baseURL: `${AOPROXY}/v1`, apiKey: 'client-key', maxRetries: 0 });
  const stream = client.chat.completions.stream({
    model: MODEL, messages: [{ role: 'user', content: 'tell me' }],
  });
  let text = '';
  for await (const chunk of stream) {
    for (const c of chunk.choices) text += c.delta?.content ?? '';
  }
  const final = await stream.finalChatCompletion();
  assert.equal(text, ANSWER);
  assert.equal(final.choices.length, 1);
  assert.equal(final.choices[0].message.content, ANSWER);
  assert.equal(final.choices[0].finish_reason, 'stop');
});
