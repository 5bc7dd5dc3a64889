"""The wire format of ``happo-top serve --stream``: NDJSON, one document a line.

The first line is a header::

    {"stream": "happo-top", "schema": 1, "version": "0.1.0", "host": "gpu01", "roots": [...]}

and every poll after it is one snapshot, exactly the ``--once --json`` document
(:meth:`Snapshot.to_json`) except that a run whose document did not change since the previous
line is sent as a reference, ``{"id": "3f2a9c01", "same": true}``, and a run of which only
some keys changed (a live run: step, ETA, process, scalars, ...) as those keys,
``{"id": "3f2a9c01", "changed": {"step": 1200000, ...}}``, the rest as before (a mapping of
which only some keys changed, like ``process``, is itself sent as ``{"~": {changed keys}}``);
``disks`` and ``gpus`` that did not change are ``{"same": true}``, and those that did, patches. Nothing else travels. The
encoder and decoder here are pure: the remote side (``tui.cli.serve``) writes what
:class:`StreamEncoder` returns, the local side (``collectors.sources.remote``) feeds each line it
reads to :class:`StreamDecoder`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from collectors.model.run import SCHEMA, RunSnapshot, Snapshot

STREAM = "happo-top"


def version() -> str:
    """This happo-top's version (the installed package's), or "unknown"."""
    import importlib.metadata  # deferred: ~20 ms of start-up, needed by serve's header only

    try:
        return importlib.metadata.version("happo-top")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def header(host: str, roots: list[str]) -> dict[str, Any]:
    return {"stream": STREAM, "schema": SCHEMA, "version": version(), "host": host, "roots": roots}


class StreamEncoder:
    """Snapshot documents with the runs that did not change replaced by references."""

    def __init__(self) -> None:
        self._sent: dict[str, dict[str, Any]] = {}
        self._parts: dict[str, Any] = {}

    header = staticmethod(header)

    def encode(self, snap: Snapshot) -> dict[str, Any]:
        doc = snap.to_json()
        sent: dict[str, dict[str, Any]] = {}
        runs: list[dict[str, Any]] = []
        for r in doc["runs"]:
            sent[r["id"]] = r
            before = self._sent.get(r["id"])
            if before is None or set(before) != set(r):
                runs.append(r)
            elif before == r:
                runs.append({"id": r["id"], "same": True})
            else:
                runs.append({"id": r["id"], "changed": _diff(before, r)})
        for part in ("gpus", "disks"):
            value, before = doc[part], self._parts.get(part)
            if value is not None and before == value:
                doc[part] = {"same": True}
            elif isinstance(value, dict) and isinstance(before, dict) and set(value) == set(before):
                doc[part] = {PATCH: _diff(before, value)}  # e.g. only the free space changed
            self._parts[part] = value
        doc["runs"] = runs
        self._sent = sent
        return doc


class StreamError(ValueError):
    """A line that is not this stream (with what it was), or a stream of another schema."""


@dataclass(frozen=True, slots=True)
class Header:
    schema: int
    version: str
    host: str
    roots: tuple[str, ...]


def remote_run_id(host: str, path: str) -> str:
    """A run's id on this side: the remote path with its host, so that the same path on two
    hosts gives two runs (ids stay 8 hex digits, like local ones)."""
    import hashlib  # deferred for start-up time: OpenSSL only once a remote run is read

    return hashlib.sha1(f"{host}:{path}".encode()).hexdigest()[:8]


class StreamDecoder:
    """Reads one host's stream: the header, then snapshots, with references resolved against
    the previous line. Runs are tagged with ``host`` and given ids unique across hosts; a run
    whose document did not change is returned as the same object as before."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.header: Header | None = None
        self._docs: dict[str, dict[str, Any]] = {}  # remote id -> last full document
        self._runs: dict[str, RunSnapshot] = {}
        self._parts: dict[str, Any] = {}

    def feed(self, line: str | bytes) -> Snapshot | Header:
        """The header or snapshot in one line. Raises StreamError for anything else (a line
        that is not JSON, a snapshot before the header, a header of another schema)."""
        try:
            doc = json.loads(line)
        except ValueError:
            text = line.decode(errors="replace") if isinstance(line, bytes) else line
            raise StreamError(f"not a happo-top stream: {text.strip()[:120]!r}") from None
        if not isinstance(doc, dict):
            raise StreamError(f"not a happo-top stream: {str(doc)[:120]!r}")
        if doc.get("stream") == STREAM:
            schema = doc.get("schema")
            theirs = doc.get("version", "unknown")
            if schema != SCHEMA:
                raise StreamError(
                    f"happo-top {theirs} there speaks schema {schema}; this happo-top "
                    f"{version()} speaks schema {SCHEMA}: install the same version on both"
                )
            self.header = Header(schema, theirs, doc.get("host", ""), tuple(doc.get("roots") or ()))
            self._docs, self._runs, self._parts = {}, {}, {}
            return self.header
        if self.header is None:
            raise StreamError("a snapshot before the stream's header")
        return self._snapshot(doc)

    def _snapshot(self, doc: dict[str, Any]) -> Snapshot:
        docs: dict[str, dict[str, Any]] = {}
        runs: dict[str, RunSnapshot] = {}
        for r in doc.get("runs") or ():
            rid = r.get("id")
            if r.get("same") and rid in self._docs:
                docs[rid], runs[rid] = self._docs[rid], self._runs[rid]
                continue
            if r.get("same") or "changed" in r:
                if rid not in self._docs:
                    raise StreamError(f"a reference to run {rid} that was never sent")
                r = _patch(self._docs[rid], r["changed"])
            try:
                run = RunSnapshot.from_json(r, self.host)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise StreamError(f"a bad run in the stream: {type(e).__name__}: {e}") from None
            docs[rid] = r
            runs[rid] = _with_id(run, remote_run_id(self.host, run.path))
        self._docs, self._runs = docs, runs
        body = dict(doc, runs=[])
        for part in ("gpus", "disks"):
            value, before = body.get(part), self._parts.get(part)
            if value == {"same": True}:
                body[part] = before
            elif isinstance(value, dict) and set(value) == {PATCH} and isinstance(before, dict):
                body[part] = _patch(before, value[PATCH])
            self._parts[part] = body.get(part)
        try:
            snap = Snapshot.from_json(body, self.host)
        except (KeyError, TypeError, ValueError) as e:
            raise StreamError(f"a bad snapshot line: {type(e).__name__}: {e}") from None
        return dataclasses.replace(snap, runs=tuple(runs.values()))


PATCH = "~"  # {"~": {...}}: only these keys of the mapping changed


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``after`` (same keys as ``before``) whose values differ; a mapping with the
    same keys on both sides (and no key "~") as a patch of its own."""
    out: dict[str, Any] = {}
    for k, v in after.items():
        old = before[k]
        if old == v:
            continue
        if (
            isinstance(v, dict)
            and isinstance(old, dict)
            and v
            and set(v) == set(old)
            and PATCH not in v
        ):
            out[k] = {PATCH: _diff(old, v)}
        else:
            out[k] = v
    return out


def _patch(before: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    out = dict(before)
    for k, v in changed.items():
        if isinstance(v, dict) and set(v) == {PATCH} and isinstance(before.get(k), dict):
            out[k] = _patch(before[k], v[PATCH])
        else:
            out[k] = v
    return out


def _with_id(run: RunSnapshot, rid: str) -> RunSnapshot:
    return dataclasses.replace(run, id=rid)
