"""``metabench leaderboard serve``: the HTTP service over a store."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("rliable", reason="the stats extra is not installed")

from leaderboard_helpers import submission, text  # noqa: E402

from metabench.leaderboard.serve import make_server  # noqa: E402
from metabench.leaderboard.store import Store  # noqa: E402

TOKEN = "s3cret-token"


@pytest.fixture
def server(tmp_path):
    server = make_server(Store(tmp_path / "store", reps=20), token=TOKEN, max_bytes=2_000_000)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def request(url: str, data: bytes | None = None, token: str | None = TOKEN) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers), timeout=120
        ) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def oversized(server: str) -> int:
    """Announce a body over the limit: refused before it is read."""
    import http.client

    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.putrequest("POST", "/api/submissions")
    connection.putheader("Authorization", f"Bearer {TOKEN}")
    connection.putheader("Content-Length", "2000001")
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    return status


def test_post_get_and_refusals(server):
    body = text(submission("thompson")).encode()
    assert request(f"{server}/api/submissions", body, token=None)[0] == 401
    assert request(f"{server}/api/submissions", body, token="wrong")[0] == 401
    assert oversized(server) == 413
    status, reply = request(f"{server}/api/submissions", b"{not json")
    assert status == 422 and "not valid JSON" in json.loads(reply)["problems"][0]

    # the same submission posted by 4 threads at once is recorded once
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(
            s for s, _ in pool.map(lambda _: request(f"{server}/api/submissions", body), range(4))
        )
    assert statuses == [201, 422, 422, 422]
    status, reply = request(f"{server}/api/submissions", text(submission("random")).encode())
    assert status == 201

    status, page = request(f"{server}/")
    assert status == 200 and b"<table" in page and b"thompson" in page
    status, api = request(f"{server}/api/entries")
    assert status == 200 and sorted(e["method"] for e in json.loads(api)["entries"]) == ["random", "thompson"]
    status, reply = request(f"{server}/api/compare?env=MetaBandit-v0&a=thompson&b=random")
    low_point_high = json.loads(reply)["probability_of_improvement"]
    assert status == 200 and low_point_high[1] <= low_point_high[0] <= low_point_high[2]
    assert request(f"{server}/MetaBandit-v0-ci.png")[0] == 200
    assert request(f"{server}/../leaderboard.sqlite")[0] == 404
    assert request(f"{server}/%2e%2e/leaderboard.sqlite")[0] == 404
