"""Client protocols other than OpenAI chat completions, served on the same dispatcher.

Each package here is one protocol as clients speak it (routes, body checks, error shape, stream
events) layered on the operations and adapters that chat uses: a channel that speaks the protocol
natively gets the request as it came, every other channel gets it through its chat translation.
"""
