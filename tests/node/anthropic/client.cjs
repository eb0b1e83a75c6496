// The official Anthropic Node SDK against a running gateway (tests/test_anthropic_node.py).
// Usage: NODE_PATH=<dir>/node_modules node client.cjs <gateway url> <gateway key> <model>...
// For each model: messages.create, messages.stream (text events, finalMessage), a streamed tool
// call, countTokens; then one request with a wrong key. Prints one JSON object with what it got.
const Anthropic = require("@anthropic-ai/sdk");

const WEATHER = {
  name: "get_weather",
  description: "Weather for a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

async function run(client, model) {
  const user = (content) => [{ role: "user", content }];
  const created = await client.messages.create({ model, max_tokens: 200, messages: user("hello from node") });

  const stream = client.messages.stream({ model, max_tokens: 200, messages: user("stream from node") });
  let text = "";
  stream.on("text", (delta) => { text += delta; });
  const streamed = await stream.finalMessage();

  const tools = client.messages.stream({ model, max_tokens: 200, tools: [WEATHER], messages: user("Weather in Paris?") });
  const toolCall = await tools.finalMessage();

  const counted = await client.messages.countTokens({ model, messages: user("count these words") });
  return { created, text, streamed, toolCall, counted };
}

async function main() {
  const [url, key, ...models] = process.argv.slice(2);
  const client = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0 });
  const results = {};
  for (const model of models) {
    results[model] = await run(client, model);
  }
  let denied = null;
  try {
    await new Anthropic({ baseURL: url, apiKey: "sk-wrong", maxRetries: 0 }).messages.create({
      model: models[0], max_tokens: 10, messages: [{ role: "user", content: "x" }],
    });
  } catch (err) {
    denied = { status: err.status, type: err.error && err.error.error && err.error.error.type, name: err.constructor.name };
  }
  process.stdout.write(JSON.stringify({ results, denied }) + "\n");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
