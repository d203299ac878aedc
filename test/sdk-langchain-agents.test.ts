/**
 * Two more clients people put in front of agents, unmodified, against Tollgate: LangChain's
 * `@langchain/openai` (`ChatOpenAI`: invoke, stream, tool calls) and the OpenAI Agents SDK (`run` of an
 * `Agent` over the Responses and the Chat Completions API). Only the base URL, the key and the fetch
 * that reaches the Worker are set. Spend is exact (the cost event is not estimated).
 */
import { SELF } from "cloudflare:test";
import { ChatOpenAI } from "@langchain/openai";
import { Agent, OpenAIProvider, Runner, setTracingDisabled } from "@openai/agents";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { costEventOf, createGatewayOrg } from "./factories/gateway";

const workerFetch = (url: unknown, init?: unknown) => SELF.fetch(url as string, init as RequestInit);
const TEXT = "Héllo wörld – 你好";

function chatModel(apiKey: string) {
  return new ChatOpenAI({ model: "gpt-4o-mini", apiKey, maxRetries: 0, configuration: { baseURL: "http://localhost/v1", fetch: workerFetch as typeof fetch } });
}


describe("LangChain ChatOpenAI against Tollgate", () => {
  it("invoke returns the completion and the request is priced exactly", async () => {
    const { org, key } = await createGatewayOrg();
    const ids: string[] = [];
    const model = new ChatOpenAI({
      model: "gpt-4o-mini", apiKey: key.key, maxRetries: 0,
      configuration: {
        baseURL: "http://localhost/v1",
        fetch: (async (url: unknown, init?: unknown) => {
          const res = await workerFetch(url, init);
          ids.push(res.headers.get("x-request-id")!);
          return res;
        }) as typeof fetch,
      },
    });
    const msg = await model.invoke("Hi");
    expect(msg.content).toBe(TEXT);
    expect(msg.usage_metadata?.output_tokens).toBe(5);
    expect(await costEventOf(org.id, ids[0]!)).toMatchObject({ output_tokens: 5, estimated: 0 });
  });

  it("stream yields the text in chunks", async () => {
    const { key } = await createGatewayOrg();
    let text = "";
    let chunks = 0;
    for await (const chunk of await chatModel(key.key).stream("Hi")) {
      text += typeof chunk.content === "string" ? chunk.content : "";
      chunks++;
    }
    expect(text).toBe(TEXT);
    expect(chunks).toBeGreaterThan(1);
  });

  it("bound tools come back as tool calls with parsed arguments", async () => {
    const { key } = await createGatewayOrg();
    const weather = { type: "function" as const, function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };
    const msg = await chatModel(key.key).bindTools([weather]).invoke("What is the weather in Paris?");
    expect(msg.tool_calls?.[0]?.name).toBe("get_weather");
    expect(typeof msg.tool_calls?.[0]?.args.city).toBe("string");
  });
});

describe("the OpenAI Agents SDK against Tollgate", () => {
  setTracingDisabled(true);
  for (const useResponses of [true, false]) {
    it(`an agent run completes over the ${useResponses ? "Responses" : "Chat Completions"} API`, async () => {
      const { key } = await createGatewayOrg();
      const openAIClient = new OpenAI({ apiKey: key.key, baseURL: "http://localhost/v1", fetch: workerFetch as typeof fetch, maxRetries: 0 });
      const runner = new Runner({ modelProvider: new OpenAIProvider({ openAIClient: openAIClient as never, useResponses }) });
      const agent = new Agent({ name: "Greeter", instructions: "Greet the user.", model: "gpt-4o-mini" });
      const result = await runner.run(agent, "Hi");
      expect(result.finalOutput).toBe(TEXT);
    });
  }
});
