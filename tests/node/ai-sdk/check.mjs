// The Vercel AI SDK against the gateway (run by tests/test_responses_ai_sdk.py, which starts the gateway
// and passes GATEWAY_URL and GATEWAY_KEY). Its default OpenAI provider, openai("model"), speaks the
// Responses API; openai.chat("model") speaks Chat Completions. Prints one JSON object with what came back.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const openai = createOpenAI({ baseURL: `${process.env.GATEWAY_URL}/v1`, apiKey: process.env.GATEWAY_KEY });
const model = process.env.GATEWAY_MODEL ?? "mock-model";

async function streamed(result) {
  let text = "";
  for await (const delta of result.textStream) text += delta;
  return { text, finishReason: await result.finishReason, usage: await result.usage };
}

const weather = tool({
  description: "Current weather in a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny in ${city}`,
});

const out = {};

const plain = await generateText({ model: openai(model), prompt: "Hello responses" });
out.responsesGenerate = { text: plain.text, finishReason: plain.finishReason, usage: plain.usage, id: plain.response.id };

out.responsesStream = await streamed(streamText({ model: openai.responses(model), system: "Be brief.", prompt: "Hello stream" }));

const loop = await generateText({
  model: openai(model),
  prompt: "Weather in Paris?",
  tools: { get_weather: weather },
  stopWhen: stepCountIs(3),
  providerOptions: { openai: { store: false } },
});
out.responsesTools = {
  text: loop.text,
  steps: loop.steps.length,
  calls: loop.steps.flatMap((step) => step.toolCalls.map((call) => ({ name: call.toolName, input: call.input }))),
  results: loop.steps.flatMap((step) => step.toolResults.map((result) => result.output)),
};

const streamedLoop = streamText({ model: openai(model), prompt: "Weather in Oslo?", tools: { get_weather: weather }, stopWhen: stepCountIs(3) });
out.responsesToolsStream = await streamed(streamedLoop);

const chat = await generateText({ model: openai.chat(model), prompt: "Hello chat" });
out.chatGenerate = { text: chat.text, finishReason: chat.finishReason, usage: chat.usage };
out.chatStream = await streamed(streamText({ model: openai.chat(model), prompt: "Hello chat stream" }));

try {
  await generateText({ model: openai(model), prompt: "mock:status 400", maxRetries: 0 });
  out.error = null;
} catch (error) {
  out.error = { status: error.statusCode ?? null, message: String(error.message) };
}

console.log(JSON.stringify(out));
