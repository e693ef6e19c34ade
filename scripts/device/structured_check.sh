#!/usr/bin/env bash
# On the GPU machine: structured outputs from a model with random weights
# (issue 26's "must show" on synthetic:20b). Asks the server what the
# synthetic:tiny e2e test asks (tests/server/structured/schemas.json):
# json_schema answers, streamed and not, batched with free requests;
# tool_choice required and named. Saves every raw reply under
# $OUT/structured; validate them where node is, with ajv:
#   node tests/server/structured/validate_saved.cjs DIR
# usage: scripts/device/structured_check.sh [MODEL] [ANSWERS]
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
MODEL=${1:-synthetic:20b}
N=${2:-32}
source scripts/lib/server_process.sh
server_start gptoss "$OUT" --model "$MODEL" --device cuda --tokenizer "$GPTOSS_TOKENIZER" --served-model-name gpt-oss \
  --max-num-seqs 64 --ctx-size 4096 || exit 1
mkdir -p "$OUT/structured"
python3 - "http://127.0.0.1:$SERVER_PORT" "$OUT/structured" "$N" <<'PY'
import json, sys, threading, urllib.request
url, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
schemas = json.load(open("tests/server/structured/schemas.json"))
ask = [{"role": "user", "content": "Describe a product as JSON."}]
tools = [{"type": "function", "function": {"name": k, "parameters": schemas[k], "strict": True}}
         for k in ("get_weather", "get_time")]
def post(name, body):
    req = urllib.request.Request(url + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        open(f"{out}/{name}", "wb").write(r.read())
jobs = []
for i in range(n):
    body = {"model": "gpt-oss", "messages": ask, "seed": 100 + i, "max_tokens": 1500, "thinking_token_budget": 16,
            "response_format": {"type": "json_schema", "json_schema": {"name": "product", "schema": schemas["product"],
                                                                        "strict": True}}}
    if i % 2: body["stream"] = True
    jobs.append((f"product_{i}.{'sse' if i % 2 else 'json'}", body))
    jobs.append((f"free_{i}.json", {"model": "gpt-oss", "messages": ask, "max_tokens": 64, "seed": i}))
for i in range(8):
    choice = "required" if i < 4 else {"type": "function", "function": {"name": "get_time"}}
    jobs.append((f"{'required' if i < 4 else 'named_get_time'}_{i}.json",
                 {"model": "gpt-oss", "messages": ask, "tools": tools, "tool_choice": choice, "seed": 40 + i,
                  "max_tokens": 800, "thinking_token_budget": 16}))
threads = [threading.Thread(target=post, args=j) for j in jobs]
for t in threads: t.start()
for t in threads: t.join()
print(f"{len(jobs)} replies saved in {out}")
PY
server_stop 30 && echo "server stopped cleanly"
tail -3 "$OUT/server.stderr"
