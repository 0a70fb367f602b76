"""``/metrics`` on the web role after real turns: turns by intent, status and tier, turn latency, sends by
Meta error code, model load time; ``/readyz`` names what it checked."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from tests.support import payloads as p


async def scrape(http) -> dict[tuple[str, tuple], float]:
    response = await http.get("/metrics")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
    out: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_turns_sends_by_meta_code_and_latency(webhook):
    ok_phone, blocked_phone = "919800000911", "919800000912"
    webhook.graph.fail_for[blocked_phone] = (131047, "Re-engagement message")
    metrics.watch_queues(webhook.roles)      # what `gridworks serve` does for its roles
    before = await scrape(webhook.http)
    body = p.envelope(p.messages_value([p.text(ok_phone, "hi"), p.text(blocked_phone, "hello")],
                                       [p.contact(ok_phone), p.contact(blocked_phone)]))
    response = await webhook.http.post("/webhook", data=p.raw(body), headers={
        "X-Hub-Signature-256": p.sign(p.raw(body)), "Content-Type": "application/json"})
    assert response.status == 200
    await webhook.settle()
    try:
        after = await scrape(webhook.http)
    finally:
        metrics.watch_queues()               # forget this test's roles

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    turns = {key: after[key] - before.get(key, 0.0) for key in after
             if key[0] == "gridworks_turns_total" and after[key] - before.get(key, 0.0)}
    assert sum(turns.values()) == 2, turns
    assert all(dict(labels)["tier"] == "lite" and dict(labels)["status"] for _name, labels in turns)
    assert delta("gridworks_turn_seconds_count") == 2
    assert delta("gridworks_sends_total", result="ok", code="none") >= 1
    assert delta("gridworks_sends_total", result="error", code="131047") >= 1
    assert value(after, "gridworks_model_load_seconds") > 0
    assert value(after, "gridworks_queue_depth", queue="intake") == 0      # all run
    assert value(after, "gridworks_turn_limit") >= 1                       # the embedded loop-lag gate
    assert value(after, "gridworks_queue_depth", queue="outbound") == 0    # all sent


async def test_readiness_names_its_checks(webhook):
    ready = await webhook.http.get("/readyz")
    body = await ready.json()
    assert ready.status == 200 and body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "intents": "ok"}
