"""AWS Lambda door (buffered): ``functions/aws/handler.handler`` behind a Function URL or API Gateway.

Mangum turns the Lambda event (Function URL / HTTP API payload 2.0, REST API payload 1.0) into an ASGI
request and collects the whole response before returning it, so a streamed answer reaches the
client in one piece. For token-by-token streaming deploy with ``Streaming=true`` (template.yaml): the
same app then runs under uvicorn behind AWS Lambda Web Adapter (``run.sh``).
"""

from mangum import Mangum

from shared.app import app

handler = Mangum(app, lifespan="off")
