"""Coming back after the hub went away: the event stream returns within a bounded, jittered delay."""

from __future__ import annotations

import threading

from hypothesis import given, settings as hyp_settings, strategies as st

from hub.agent import Agent, AgentSettings
from hub.agent import client as client_module
from hub.testing import wait_until


def _recording(agent: Agent, name: str) -> list[float]:
    """Every value ``agent.<name>()`` hands back, in order (the method itself is unchanged)."""
    seen: list[float] = []
    real = getattr(agent, name)

    def record(*args, **kwargs) -> float:
        value = real(*args, **kwargs)
        seen.append(value)
        return value

    setattr(agent, name, record)
    return seen


@hyp_settings(max_examples=50, deadline=None)
@given(low=st.floats(0, 5), span=st.floats(0, 20), hint=st.one_of(st.none(), st.floats(0, 600)),
       backoff_max=st.floats(1, 300), down=st.floats(0, 3600), flat=st.floats(0, 120))
def test_the_reconnect_delay_stays_within_its_bounds(tmp_path_factory, low, span, hint, backoff_max, down, flat):
    high = low + span if low + span > 0 else 0.1
    agent = Agent(AgentSettings(server="http://127.0.0.1:9", token="hubd_x", player="true",
                                cache=tmp_path_factory.mktemp("agent"), events_retry_min_s=low,
                                events_retry_max_s=high, events_retry_flat_s=flat, backoff_max_s=backoff_max))
    try:
        # The hub's retry: hint replaces the upper bound, but never beyond the backoff cap; past
        # the flat period, half the outage so far is (also capped).
        top = high if hint is None else min(hint, backoff_max)
        if down > flat:
            top = max(top, min(down / 2, backoff_max))
        for _ in range(20):
            delay = agent.reconnect_delay(hint, down)
            assert min(low, top) <= delay <= max(min(low, top), top)
    finally:
        agent.outbox.close()


def test_reconnect_delays_and_the_first_heartbeat_are_spread(tmp_path):
    agent = Agent(AgentSettings(server="http://127.0.0.1:9", token="hubd_x", player="true", cache=tmp_path,
                                events_retry_min_s=0.5, events_retry_max_s=3.0, heartbeat_s=30))
    try:
        # Flat for the first 30 s of an outage (a restart): the same bounds however often it failed.
        delays = [agent.reconnect_delay(None, down_s=n % 30) for n in range(500)]
        assert all(0.5 <= d <= 3.0 for d in delays)
        # Jittered: a fleet that lost the hub together does not come back in one instant.
        assert max(delays) - min(delays) > 1.5
        # A longer outage: the fleet knocks less often, up to half the outage so far.
        later = [agent.reconnect_delay(3.0, down_s=120) for _ in range(500)]
        assert all(0.5 <= d <= 60 for d in later) and max(later) > 30
        beats = [agent.first_heartbeat_delay() for _ in range(500)]
        assert all(0 <= b <= 30 for b in beats) and max(beats) - min(beats) > 15
    finally:
        agent.outbox.close()


def test_after_a_hub_restart_the_stream_is_back_while_polling_still_backs_off(live_hub, make_agent, player_log):
    live_hub.people.device("loa-1", "X1")
    # Polls every 10 minutes and backs off from 60 s: only a re-opened event stream can bring
    # the emergency below in time.
    agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], poll_s=600, backoff_s=60, backoff_max_s=600,
                       events_retry_min_s=0.1, events_retry_max_s=0.5)
    delays = _recording(agent, "reconnect_delay")
    wait_until(lambda: agent.etag is not None and agent._events_client._stream is not None, timeout=15,
               what="the first manifest and the event stream")
    # The hub's retry: field was read: it is the upper bound from now on.
    assert agent._events_client.retry_s == 3.0

    live_hub.stop()
    # Several failed attempts while it is down, none of them making the next wait longer.
    wait_until(lambda: len(delays) >= 3, timeout=20, what="the listener retrying while the hub is down")
    live_hub.start()
    wait_until(lambda: agent._events_client._stream is not None, timeout=15, what="the stream re-opened")
    live_hub.approved("X1", priority="emergency")
    wait_until(lambda: player_log.events("end"), timeout=15, what="the emergency played")
    assert agent.manifest.items[0].priority == "emergency"
    assert all(0.1 <= d <= 3.0 for d in delays), delays


def test_a_refused_token_backs_off_instead(live_hub, make_agent):
    agent = make_agent(live_hub.url, "hubd_unknown", backoff_s=0.05, backoff_max_s=0.4, poll_s=600,
                       events_retry_min_s=0.5, events_retry_max_s=0.5)
    delays = _recording(agent, "_backoff")
    retries = _recording(agent, "reconnect_delay")
    # The fetcher and the sender back off on their 401s too: among a dozen, some loop is at its 4th.
    wait_until(lambda: len(delays) >= 12, timeout=20, what="several refused attempts")
    assert retries == []
    assert max(delays) > 0.2 and all(d <= 0.4 for d in delays)


def test_every_client_of_a_process_shares_one_tls_context():
    client_module._new_tls_context.cache_clear()
    got: list = []
    start = threading.Barrier(16)

    def make() -> None:
        start.wait()
        got.append(client_module.tls_context())

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Made once, even when every thread of a starting agent asks at the same moment.
    assert len({id(context) for context in got}) == 1
