#!/bin/bash
# AWS Lambda door (streaming): the start-up command AWS Lambda Web Adapter runs (Handler: functions/aws/run.sh).
# The same ASGI app as every other door, under uvicorn on 127.0.0.1:$PORT; the adapter forwards each
# invocation to it and streams the response through a Function URL in RESPONSE_STREAM mode.
cd "${LAMBDA_TASK_ROOT:-$(dirname "$0")/../..}" || exit 1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m uvicorn shared.app:app --host 127.0.0.1 --port "${PORT:-8080}" \
    --no-access-log --log-level warning --timeout-keep-alive 75
