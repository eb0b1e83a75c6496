"""OpenAI's Responses API (``POST /v1/responses``) on every upstream (wire-formats-2.md section 1).

A Responses request is served two ways, chosen per channel:

* **passed through** to an upstream that serves the Responses API itself (OpenAI, Azure's v1 form,
  or any OpenAI-compatible provider with ``preferences.responses_api: passthrough``): the client's
  body with the upstream model name and ``store: false``, the answer and its events as they come;
* **translated** for every other channel: the request becomes a Chat Completions body
  (:mod:`.request`), which the channel's own chat adapter sends in its wire format (OpenAI-compatible,
  Anthropic, Gemini, Vertex...), and the chat answer comes back as a Responses object
  (:mod:`.response`) or a Responses event stream (:mod:`.stream`).

The gateway is stateless: ``previous_response_id``, ``conversation``, ``background``,
``item_reference`` and the stored-response paths are refused with a 400 that says so.

One module per job: :mod:`.request` (request -> chat body), :mod:`.response` (chat answer ->
Responses object), :mod:`.stream` (chat chunks -> Responses events), :mod:`.passthrough` (which
upstreams pass through, and watching their streams), :mod:`.operation` (the dispatcher's view of a
request), :mod:`.endpoint` (the HTTP handlers ``app.py`` imports on first use).
"""
