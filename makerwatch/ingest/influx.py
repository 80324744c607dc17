"""InfluxDB over the v1 HTTP API (/ping, /write, /query).

InfluxDB 1.x serves it natively; 2.x and 3.x serve it as their v1 compatibility
API, so the same client and InfluxQL work on all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import httpx

from makerwatch.core.site_config import InfluxSettings
from makerwatch.ingest.errors import SinkError, SinkRejectedError

__all__ = ["PING_TIMEOUT_S", "InfluxClient"]

# /healthz pings InfluxDB: a monitor must get an answer (and the reason) well within
# its own timeout, not wait out the writes' timeout while InfluxDB hangs.
PING_TIMEOUT_S = 1.0


class InfluxClient:
    def __init__(self, settings: InfluxSettings) -> None:
        self.database = settings.database
        self._url = settings.url.rstrip("/")
        self._ping_timeout_s = min(PING_TIMEOUT_S, settings.timeout_s)
        # Basic auth in a header, never in the URL, where proxies and logs would keep it.
        auth = None
        if settings.username is not None:
            auth = httpx.BasicAuth(settings.username, settings.password or "")
        self._http = httpx.AsyncClient(base_url=self._url, timeout=settings.timeout_s, auth=auth)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SinkError(f"{self._url}{path}: {type(exc).__name__}: {exc}") from exc

    @property
    def url(self) -> str:
        return self._url

    async def ping(self) -> bool:
        return await self.ping_error() is None

    async def ping_error(self) -> str | None:
        """Why InfluxDB does not answer its ping (None: it does), within PING_TIMEOUT_S."""
        try:
            response = await self._http.get("/ping", timeout=self._ping_timeout_s)
        except httpx.TimeoutException:
            return "not reachable: timeout"
        except httpx.HTTPError as exc:
            return f"not reachable: {exc or type(exc).__name__}"
        if response.status_code != 204:
            return f"/ping answered {response.status_code}"
        return None

    async def ensure_database(self) -> None:
        """Create the database if it is missing (CREATE DATABASE is idempotent)."""
        await self.query(f'CREATE DATABASE "{self.database}"', method="POST")

    async def write(self, lines: Sequence[str]) -> None:
        """Write points (nanosecond timestamps); raise SinkRejectedError on bad data."""
        body = "\n".join(lines).encode("utf-8")
        params = {"db": self.database, "precision": "ns"}
        response = await self._request("POST", "/write", params=params, content=body)
        if response.status_code == 204:
            return
        text = _error_text(response)
        if response.status_code == 400:
            raise SinkRejectedError(f"{self._url}/write", 400, text)
        raise SinkError(f"{self._url}/write answered {response.status_code}: {text}")

    async def query(self, influxql: str, *, method: str = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; return the series of the first statement (time in epoch ms)."""
        params = {"db": self.database, "q": influxql, "epoch": "ms"}
        if method == "POST":
            response = await self._request("POST", "/query", data=params)
        else:
            response = await self._request("GET", "/query", params=params)
        if response.status_code != 200:
            raise SinkError(
                f"{self._url}/query answered {response.status_code}: {_error_text(response)}"
            )
        result = response.json()["results"][0]
        if "error" in result:
            raise SinkError(f"{self._url}/query: {influxql!r}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))[:500]
    except ValueError:
        return response.text[:500]
