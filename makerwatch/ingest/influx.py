"""InfluxDB over the v1 HTTP API (/ping, /write, /query).

InfluxDB 1.x serves it natively; 2.x and 3.x serve it as their v1 compatibility
API, so the same client and InfluxQL work on all three. What differs: 2.x and 3.x
authenticate with a token (`Authorization: Token ...`), and neither creates a
database with `CREATE DATABASE` (2.x maps a bucket to it, 3.x has its own command),
so a missing one is reported with how to create it (docs/configuration.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import httpx

from makerwatch.core.site_config import InfluxSettings
from makerwatch.ingest.errors import SinkError, SinkRejectedError

__all__ = ["PING_TIMEOUT_S", "InfluxClient", "MissingDatabaseError"]

# /healthz pings InfluxDB: a monitor must get an answer (and the reason) well within
# its own timeout, not wait out the writes' timeout while InfluxDB hangs.
PING_TIMEOUT_S = 1.0


class MissingDatabaseError(SinkError):
    """The database is not there and this server cannot create it (2.x, 3.x)."""


def how_to_create(url: str, database: str) -> str:
    """One line: what is missing and how to create it on each version."""
    return (
        f"InfluxDB at {url} has no database {database!r} and cannot create it here; on 2.x "
        f"create a bucket and map it: `influx bucket create -n {database}` then `influx v1 dbrp "
        f"create --db {database} --rp autogen --bucket-id BUCKET_ID --default`; on 3.x: "
        f"`influxdb3 create database {database}`"
    )


class InfluxClient:
    def __init__(self, settings: InfluxSettings) -> None:
        self.database = settings.database
        self._url = settings.url.rstrip("/")
        self._ping_timeout_s = min(PING_TIMEOUT_S, settings.timeout_s)
        # Credentials in a header, never in the URL, where proxies and logs would keep them:
        # a token (2.x, 3.x) as `Authorization: Token`, a 1.x user and password as Basic.
        auth = None
        headers = {}
        if settings.token is not None:
            headers["Authorization"] = f"Token {settings.token}"
        elif settings.username is not None:
            auth = httpx.BasicAuth(settings.username, settings.password or "")
        self._http = httpx.AsyncClient(
            base_url=self._url, timeout=settings.timeout_s, auth=auth, headers=headers
        )

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
        if response.status_code not in (200, 204):  # 1.x and 2.x: 204; 3.x: 200 with its version
            return f"/ping answered {response.status_code}"
        return None

    async def ensure_database(self) -> None:
        """Create the database if it is missing (CREATE DATABASE is idempotent on 1.x);
        where the server cannot (2.x, 3.x), check that it exists, else raise
        MissingDatabaseError saying how to create it."""
        try:
            await self.query(f'CREATE DATABASE "{self.database}"', method="POST")
            return
        except SinkError as exc:
            refused = exc
        try:
            listed = await self.query("SHOW DATABASES")
        except SinkError:
            raise refused from None
        names = {row[0] for series in listed for row in series.get("values") or []}
        if self.database not in names:
            raise MissingDatabaseError(how_to_create(self._url, self.database)) from None

    async def write(self, lines: Sequence[str]) -> None:
        """Write points (nanosecond timestamps); raise SinkRejectedError on bad data."""
        body = "\n".join(lines).encode("utf-8")
        params = {"db": self.database, "precision": "ns"}
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        response = await self._request(
            "POST", "/write", params=params, content=body, headers=headers
        )
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
        answer = response.json()
    except ValueError:
        return response.text[:500]
    if not isinstance(answer, dict):
        return response.text[:500]
    # 1.x says {"error": ...}; 2.x and 3.x say {"code": ..., "message": ...}.
    return str(answer.get("error") or answer.get("message") or response.text)[:500]
