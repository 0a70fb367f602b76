"""Open-loop webhook load in a process of its own, for ``gridworks bench e2e``.

``python -m bot.bench.loadgen SPEC OUT``: SPEC is a JSON file (url, secret, users, steps, rate, seconds,
start_at on the wall clock, connections, mid prefix, simulated clock base); message ``i`` goes to user
``i mod U`` at ``start + i / rate`` whatever happened to the earlier ones, over ``connections`` kept-alive
aiohttp connections. Bodies are built and signed before the window. OUT gets every message's send and
acknowledgement times (monotonic: the same clock as the fake Graph API's in the parent) and this process's
CPU seconds, so the parent can tell whether the generator kept up.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    from bot.bench.cluster import sign, webhook_body

    users, steps = spec["users"], spec["steps"]
    rate, n = float(spec["rate"]), max(1, int(round(spec["rate"] * spec["seconds"])))
    secret, url = spec["secret"], spec["url"]
    plan = []
    for i in range(n):
        u = i % len(users)
        s = (i + i // len(users)) % len(steps)       # each user goes through every kind of turn
        mid = f"{spec['mid_prefix']}{i:08d}"
        raw = webhook_body(users[u], mid, steps[s][1], steps[s][2], ts=int(spec["ts_base"] + i / rate))
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, secret)}
        plan.append((u, s, mid, raw, headers))
    rows: list[list[Any]] = [[u, s, mid, 0.0, None, None] for u, s, mid, _raw, _h in plan]
    connector = aiohttp.TCPConnector(limit=int(spec["connections"]))
    timeout = aiohttp.ClientTimeout(total=float(spec["seconds"]) + 120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(i: int) -> None:
            _u, _s, _mid, raw, headers = plan[i]
            rows[i][3] = time.monotonic()
            try:
                async with session.post(url, data=raw, headers=headers) as resp:
                    await resp.read()
                    rows[i][5] = resp.status
            except Exception:  # noqa: BLE001 - a refused or dropped connection is a failed delivery, counted
                rows[i][5] = -1
            rows[i][4] = time.monotonic()

        delay = spec["start_at"] - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        cpu0, t0 = time.process_time(), time.monotonic()
        tasks, late = [], []
        i = 0
        while i < n:
            now = time.monotonic()
            while i < n and t0 + i / rate <= now:
                late.append(now - (t0 + i / rate))
                tasks.append(asyncio.create_task(send(i)))
                i += 1
            if i < n:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        sent_s = time.monotonic() - t0
        await asyncio.gather(*tasks)
    late.sort()
    return {"t0": t0, "t_end": t0 + float(spec["seconds"]), "rows": rows, "sending_s": round(sent_s, 3),
            "late_p99_ms": round(1000 * late[min(len(late) - 1, int(0.99 * len(late)))], 1),
            "cpu_s": round(time.process_time() - cpu0, 3)}


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    result = asyncio.run(run(spec))
    with open(sys.argv[2], "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
