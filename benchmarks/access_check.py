"""What does the client API key check cost one request? In-process, so neighbours on a shared box
disturb it least (the end-to-end figure is gateway_overhead.py --auth against a run without it).

Times clientauth.py's middleware around a trivial handler on a mocked ``POST /v1/chat/completions``
(a registry of ``--keys`` keys; the valid key, an unknown one, and no middleware at all), best of
``--rounds`` rounds of ``--n`` calls each: the best round is the one least disturbed by other work.
Also times the token's sha256 alone. Prints one JSON line, microseconds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from launchgate.access.registry import ApiKey, KeyRegistry
    from launchgate.access.tokens import new_token, token_hash
    from launchgate.gateway.clientauth import ClientAuth, index

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    tokens, keys = [], []
    for _ in range(args.keys):
        key_id, token = new_token()
        tokens.append(token)
        keys.append(ApiKey(id=key_id, tenant="acme", sha256=token_hash(token), created_at=datetime.now(UTC),
                           created_by="benchmark"))
    auth = ClientAuth.__new__(ClientAuth)  # the check only: no store, no poll
    auth.keys = index(KeyRegistry(keys=keys))
    ok = web.Response(text="ok")

    async def handler(request: web.Request) -> web.StreamResponse:
        return ok

    def request(token: str) -> web.Request:
        return make_mocked_request("POST", "/v1/chat/completions", headers={"Authorization": f"Bearer {token}"})

    async def best(fn: object, req: web.Request) -> float:
        out = float("inf")
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for _ in range(args.n):
                await fn(req)  # type: ignore[operator]
            out = min(out, (time.perf_counter() - t0) / args.n * 1e6)
        return out

    async def run() -> dict[str, float]:
        valid, unknown = request(tokens[args.keys // 2]), request("lg_000000000000_" + "x" * 43)
        bare = await best(handler, valid)
        with_key = await best(lambda r: auth.middleware(r, handler), valid)
        refused = await best(lambda r: auth.middleware(r, handler), unknown)
        return {"handler_only_us": round(bare, 3), "middleware_valid_key_us": round(with_key, 3),
                "added_valid_key_us": round(with_key - bare, 3), "middleware_unknown_key_us": round(refused, 3)}

    result = asyncio.run(run())
    data = tokens[0].encode()
    sha = float("inf")
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for _ in range(args.n):
            hashlib.sha256(data).hexdigest()
        sha = min(sha, (time.perf_counter() - t0) / args.n * 1e6)
    result.update(sha256_us=round(sha, 3), keys=args.keys, load_avg_1m=os.getloadavg()[0])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
