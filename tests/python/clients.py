"""LiteLLM users' own Python clients against the router: the official `openai` SDK (OpenAI and
AzureOpenAI clients) and the `litellm` package, on the drop-in surface (aliases, models.list /
models.retrieve per key, streaming, embeddings, rerank, the provider's request id).

Run by tests/e2e/python-clients.test.mjs with the router's URL, the master key and a virtual
key that may use only `gpt-4`. Every check raises on failure; the exit status says.
"""

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import: no internet

import litellm  # noqa: E402
import openai  # noqa: E402

url, master, tenant_key = sys.argv[1], sys.argv[2], sys.argv[3]
checks = []


def check(name, ok, detail=""):
    checks.append(name)
    if not ok:
        raise AssertionError(f"{name}: {detail}")


client = openai.OpenAI(api_key=master, base_url=f"{url}/v1", max_retries=0)

chat = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
check("openai: chat through an alias", chat.object == "chat.completion", chat)
check("openai: _request_id is the provider's", (chat._request_id or "").startswith("req-"), chat._request_id)

raw = client.chat.completions.with_raw_response.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
check("openai: the group in x-litellm-model-group", raw.headers.get("x-litellm-model-group") == "gpt-4o", dict(raw.headers))

pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
    model="gpt-4o", messages=[{"role": "user", "content": "stream me"}], stream=True) if c.choices]
check("openai: a stream", "".join(pieces).startswith("echo: stream me"), pieces)

vectors = client.embeddings.create(model="embedder", input=["a", "b"])
check("openai: embeddings (base64 decoded by the SDK)", len(vectors.data) == 2 and len(vectors.data[0].embedding) == 3, vectors)

ids = [m.id for m in client.models.list()]
check("openai: models.list for the master key", ids == ["gpt-4o", "embedder", "ranker", "gpt-4"], ids)
check("openai: models.retrieve", client.models.retrieve("gpt-4").id == "gpt-4")

tenant = openai.OpenAI(api_key=tenant_key, base_url=f"{url}/v1", max_retries=0)
check("openai: models.list for a key", [m.id for m in tenant.models.list()] == ["gpt-4"])
try:
    tenant.models.retrieve("embedder")
    check("openai: another model is a 404", False, "no error")
except openai.NotFoundError as e:
    check("openai: another model is a 404", e.status_code == 404)
try:
    tenant.embeddings.create(model="embedder", input="x")
    check("openai: a key's other models are refused", False, "no error")
except openai.PermissionDeniedError:
    check("openai: a key's other models are refused", True)

azure = openai.AzureOpenAI(api_key=master, azure_endpoint=url, api_version="2024-10-21", azure_deployment="gpt-4", max_retries=0)
az = azure.chat.completions.create(model="ignored", messages=[{"role": "user", "content": "hi"}])
check("openai: AzureOpenAI through /openai/deployments/{name}", az.object == "chat.completion", az)

# litellm as a client of the proxy, as its docs show it.
done = litellm.completion(model="litellm_proxy/gpt-4", api_base=url, api_key=master,
                          messages=[{"role": "user", "content": "from litellm"}])
check("litellm: completion", done.choices[0].message.content.startswith("echo: from litellm"), done)
streamed = "".join((c.choices[0].delta.content or "") for c in litellm.completion(
    model="litellm_proxy/gpt-4o", api_base=url, api_key=master, stream=True,
    messages=[{"role": "user", "content": "litellm stream"}]))
check("litellm: streaming", streamed.startswith("echo: litellm stream"), streamed)
emb = litellm.embedding(model="litellm_proxy/embedder", api_base=url, api_key=master, input=["x"])
check("litellm: embedding", len(emb.data) == 1, emb)
ranked = litellm.rerank(model="cohere/ranker", api_base=url, api_key=master, query="q",
                        documents=["alpha", "beta"], top_n=1)
check("litellm: rerank (Cohere's client against /v2/rerank)", len(ranked.results) == 1 and ranked.results[0]["index"] == 0, ranked)

print(f"python clients: {len(checks)} checks passed")
