"""InfluxDB over the v1 HTTP API (/ping, /write, /query).

InfluxDB 1.x serves it natively; 2.x and 3.x serve it as their v1 compatibility
API, so the same client and InfluxQL work on all three. What differs: 2.x and 3.x
authenticate with a token (`Authorization: Token ...`), and neither creates a
database with `CREATE DATABASE` (2.x maps a bucket to it, 3.x has its own command),
so a missing one is reported with how to create it (docs/configuration.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import aiohttp

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


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer, read whole: InfluxDB's answers are small, and reading the body
    inside the request releases the connection to the pool."""

    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class InfluxClient:
    """The v1 HTTP API through aiohttp's client: the HTTP library ingest already serves
    its own API with, so a site's ingest carries one HTTP stack, not two."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.database = settings.database
        self._url = settings.url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self._ping_timeout = aiohttp.ClientTimeout(total=min(PING_TIMEOUT_S, settings.timeout_s))
        # Credentials in a header, never in the URL, where proxies and logs would keep them:
        # a token (2.x, 3.x) as `Authorization: Token`, a 1.x user and password as Basic.
        self._headers: dict[str, str] = {}
        if settings.token is not None:
            self._headers["Authorization"] = f"Token {settings.token}"
        elif settings.username is not None:
            basic = aiohttp.encode_basic_auth(settings.username, settings.password or "")
            self._headers["Authorization"] = basic  # UTF-8, as InfluxDB reads it
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that uses it (aiohttp's rule).
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def _send(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None,
        data: bytes | Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
        time_limit: aiohttp.ClientTimeout | None = None,
    ) -> _Answer:  # fmt: skip
        async with self._http().request(
            method, self._url + path, params=params, data=data, headers=headers, timeout=time_limit
        ) as response:
            return _Answer(response.status, await response.read())

    async def _request(self, method: str, path: str, **kwargs: Any) -> _Answer:
        try:
            return await self._send(method, path, **kwargs)
        except TimeoutError as exc:
            raise SinkError(f"{self._url}{path}: timeout after {self._timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise SinkError(f"{self._url}{path}: {type(exc).__name__}: {exc}") from exc

    @property
    def url(self) -> str:
        return self._url

    async def ping(self) -> bool:
        return await self.ping_error() is None

    async def ping_error(self) -> str | None:
        """Why InfluxDB does not answer its ping (None: it does), within PING_TIMEOUT_S."""
        try:
            response = await self._send("GET", "/ping", time_limit=self._ping_timeout)
        except TimeoutError:
            return "not reachable: timeout"
        except aiohttp.ClientError as exc:
            return f"not reachable: {exc or type(exc).__name__}"
        if response.status not in (200, 204):  # 1.x and 2.x: 204; 3.x: 200 with its version
            return f"/ping answered {response.status}"
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
        response = await self._request("POST", "/write", params=params, data=body, headers=headers)
        if response.status == 204:
            return
        text = _error_text(response)
        if response.status == 400:
            raise SinkRejectedError(f"{self._url}/write", 400, text)
        raise SinkError(f"{self._url}/write answered {response.status}: {text}")

    async def query(self, influxql: str, *, method: str = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; return the series of the first statement (time in epoch ms)."""
        params = {"db": self.database, "q": influxql, "epoch": "ms"}
        if method == "POST":
            response = await self._request("POST", "/query", data=params)
        else:
            response = await self._request("GET", "/query", params=params)
        if response.status != 200:
            raise SinkError(
                f"{self._url}/query answered {response.status}: {_error_text(response)}"
            )
        result = response.json()["results"][0]
        if "error" in result:
            raise SinkError(f"{self._url}/query: {influxql!r}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series


def _error_text(response: _Answer) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text[:500]
    if not isinstance(answer, dict):
        return response.text[:500]
    # 1.x says {"error": ...}; 2.x and 3.x say {"code": ..., "message": ...}.
    return str(answer.get("error") or answer.get("message") or response.text)[:500]
