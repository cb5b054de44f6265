"""A small Kubernetes API server for tests: the subset shardkeeper (and ``kubectl get``) use.

Speaks plain HTTP JSON on loopback: discovery (``/version``, ``/api``, ``/apis``, the group
versions), ``batch/v1`` Jobs (create, get, list by label selector, patch, delete),
``core/v1`` pods (list, get, log) and ``apps/v1`` StatefulSets (get, patch, scale get /
patch / replace). Objects are stored as the JSON the client sent plus what a server adds
(uid, resourceVersion, creationTimestamp with one-second precision, as a real server).
Created objects are checked by loading them into the official client's models, so a field
the real API would reject fails here too (422).

Jobs are run for real by ``fake_kubelet.JobController``: each pod's container command is a
local process. Secrets live in ``FakeKubernetes.secrets``; there is no Secret API (the
executor never reads Secrets, and the kubelet resolves ``secretKeyRef`` itself).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from kubernetes.client import ApiClient

from k8s.fake_kubelet import JobController

_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RESOURCES = {
    # (group/version path, plural): (kind, model)
    ("apis/batch/v1", "jobs"): ("Job", "V1Job"),
    ("api/v1", "pods"): ("Pod", "V1Pod"),
    ("apis/apps/v1", "statefulsets"): ("StatefulSet", "V1StatefulSet"),
}
_API_VERSION = {"apis/batch/v1": "batch/v1", "api/v1": "v1", "apis/apps/v1": "apps/v1"}


def now() -> str:
    """An RFC 3339 timestamp with one-second precision, as the API server writes them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """A ``kind: Status`` failure response."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        """The Status object."""
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (strategic merge is the same for the fields we patch)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def matches(labels: dict[str, str], selector: str) -> bool:
    """Whether ``labels`` satisfy a label selector (=, ==, !=, in, notin, exists, !key)."""
    for term in _split_selector(selector):
        term = term.strip()
        if not term:
            continue
        if m := re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s+\((.*)\)", term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            inside = key in labels and labels[key] in values
            if inside != (op == "in"):
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _split_selector(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [*terms, current]


class FakeKubernetes:
    """The store, the HTTP server and the job controller.

    Args:
        workdir: Where pod sandboxes (logs, volumes) are created.
        token: If set, requests must carry ``Authorization: Bearer <token>`` (else 401).
        base_env: Environment every container process starts with (``PATH`` and friends);
            a pod gets nothing else from the test process.
    """

    def __init__(self, workdir: Path, *, token: str | None = None,
                 base_env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.token = token
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every request, for assertions."""
        self.faults: dict[tuple[str, str], int] = {}
        """(method, plural) → HTTP status to answer with, to test error classification."""
        self._resource_version = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.controller = JobController(self, base_env or {})

    @property
    def url(self) -> str:
        """Base URL of the server."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeKubernetes:
        """Serve in background threads."""
        self._thread.start()
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop serving and kill every container process."""
        self.controller.stop()
        if self._thread.is_alive():
            self._server.shutdown()  # waits for serve_forever: only if it runs
        self._server.server_close()

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig pointing at this server (used by the client and ``kubectl``)."""
        user: dict[str, Any] = {"token": self.token} if self.token else {}
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": user}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester",
                                                      "namespace": namespace}}],
        }))
        return path

    # ------------------------------------------------------------------ store

    def next_version(self) -> str:
        """A new resourceVersion."""
        with self.lock:
            self._resource_version += 1
            return str(self._resource_version)

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` (creating server-side metadata); tests use it to seed pods and sets."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        meta["resourceVersion"] = self.next_version()
        with self.lock:
            self.objects[(plural, meta["namespace"], meta["name"])] = obj
        return obj

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object (live reference; hold ``lock`` to change it)."""
        with self.lock:
            return self.objects.get((plural, namespace, name))

    def list(self, plural: str, namespace: str | None, selector: str = "") -> list[dict[str, Any]]:
        """Stored objects of a kind, optionally in one namespace and matching a selector."""
        with self.lock:
            found = [o for (p, ns, _), o in self.objects.items()
                     if p == plural and (namespace is None or ns == namespace)]
        return [o for o in found if matches(o["metadata"].get("labels") or {}, selector)]

    def remove(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Delete from the store."""
        with self.lock:
            return self.objects.pop((plural, namespace, name), None)

    def update(self, plural: str, namespace: str, name: str,
               change: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
        """Apply ``change`` to a stored object under the lock and bump its version."""
        with self.lock:
            obj = self.objects.get((plural, namespace, name))
            if obj is None:
                return None
            change(obj)
            obj["metadata"]["resourceVersion"] = self.next_version()
            return obj

    # ------------------------------------------------------------------ API semantics

    def create(self, prefix: str, plural: str, namespace: str, body: dict[str, Any]) -> Any:
        """POST a namespaced object."""
        kind, model = _RESOURCES[(prefix, plural)]
        name = (body.get("metadata") or {}).get("name", "")
        _validate(body, kind, model, name)
        with self.lock:
            if self.get(plural, namespace, name) is not None:
                raise ApiError(409, "AlreadyExists", f'{plural}.{prefix} "{name}" already exists')
            body["metadata"]["namespace"] = namespace
            body.setdefault("status", {})
            stored = self.put(plural, body)
            if plural == "jobs":
                self.controller.adopt(stored)
        return stored

    def delete(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """DELETE: removes at once; a Job's processes are killed, its pods removed."""
        obj = self.remove(plural, namespace, name)
        if obj is None:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
        if plural == "jobs":
            self.controller.forget(obj)
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}

    def patch(self, plural: str, namespace: str, name: str, body: Any,
              subresource: str | None) -> dict[str, Any]:
        """PATCH (merge or strategic merge); ``scale`` patches ``spec.replicas``."""
        if subresource == "scale":
            replicas = (body.get("spec") or {}).get("replicas")
            return self.scale(namespace, name, replicas)

        def change(obj: dict[str, Any]) -> None:
            merged = merge_patch(obj, body)
            obj.clear()
            obj.update(merged)

        obj = self.update(plural, namespace, name, change)
        if obj is None:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
        return obj

    def scale(self, namespace: str, name: str, replicas: int | None) -> dict[str, Any]:
        """Read (``replicas`` None) or set a StatefulSet's scale."""

        def change(obj: dict[str, Any]) -> None:
            if replicas is not None:
                obj.setdefault("spec", {})["replicas"] = replicas
                obj.setdefault("status", {})["replicas"] = replicas
                obj["status"]["availableReplicas"] = replicas

        obj = self.update("statefulsets", namespace, name, change)
        if obj is None:
            raise ApiError(404, "NotFound", f'statefulsets.apps "{name}" not found')
        meta = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": meta["name"], "namespace": namespace, "uid": meta["uid"],
                             "resourceVersion": meta["resourceVersion"],
                             "creationTimestamp": meta["creationTimestamp"]},
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": obj.get("status", {}).get("replicas", 0)}}


def _validate(body: dict[str, Any], kind: str, model: str, name: str) -> None:
    """422 for what a real server rejects: unknown fields, wrong types, bad names/labels."""
    if not _NAME_RE.match(name) or len(name) > 63:
        raise ApiError(422, "Invalid", f'{kind} "{name}" is invalid: metadata.name')
    try:
        loaded = ApiClient()._ApiClient__deserialize(body, model)  # type: ignore[attr-defined]
    except Exception as exc:  # pydantic.ValidationError and friends
        raise ApiError(422, "Invalid", f"{kind} {name} is invalid: {exc}") from None
    again = ApiClient().sanitize_for_serialization(loaded)
    unknown = _unknown_fields(body, again)
    if unknown:
        raise ApiError(422, "Invalid", f"{kind} {name}: unknown fields {unknown}")
    labels = [body["metadata"].get("labels") or {}]
    template = ((body.get("spec") or {}).get("template") or {}).get("metadata") or {}
    labels.append(template.get("labels") or {})
    for found in labels:
        bad = [v for v in found.values() if len(v) > 63 or not _LABEL_VALUE_RE.match(v)]
        if bad:
            raise ApiError(422, "Invalid", f"{kind} {name}: invalid label values {bad}")


def _unknown_fields(sent: Any, known: Any, path: str = "") -> list[str]:
    if isinstance(sent, dict):
        known = known if isinstance(known, dict) else {}
        out = []
        for key, value in sent.items():
            if key not in known and value not in (None, {}, []):
                out.append(f"{path}.{key}")
            else:
                out += _unknown_fields(value, known.get(key), f"{path}.{key}")
        return out
    if isinstance(sent, list) and isinstance(known, list):
        return [u for i, (a, b) in enumerate(zip(sent, known, strict=False))
                for u in _unknown_fields(a, b, f"{path}[{i}]")]
    return []


# ---------------------------------------------------------------------- HTTP


_DISCOVERY: dict[str, dict[str, Any]] = {
    "/version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake",
                 "platform": "linux/amd64"},
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}}
        for g in ("batch", "apps")]},
}


def _resource(name: str, kind: str, verbs: list[str], short: list[str] | None = None,
              namespaced: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "singularName": "", "namespaced": namespaced,
                             "kind": kind, "verbs": verbs}
    if short:
        entry["shortNames"] = short
    return entry


_READ = ["get", "list"]
_DISCOVERY["/api/v1"] = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    _resource("pods", "Pod", _READ, ["po"]), _resource("pods/log", "Pod", ["get"]),
    _resource("namespaces", "Namespace", _READ, ["ns"], namespaced=False)]}
_DISCOVERY["/apis/batch/v1"] = {"kind": "APIResourceList", "groupVersion": "batch/v1",
                                "resources": [_resource("jobs", "Job", [*_READ, "create",
                                                                        "delete", "patch"])]}
_DISCOVERY["/apis/apps/v1"] = {"kind": "APIResourceList", "groupVersion": "apps/v1",
                               "resources": [
                                   _resource("statefulsets", "StatefulSet", [*_READ, "patch"],
                                             ["sts"]),
                                   _resource("statefulsets/scale", "Scale",
                                             ["get", "patch", "update"])]}

_PATH_RE = re.compile(
    r"^/(?P<prefix>api/v1|apis/batch/v1|apis/apps/v1)"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$"
)


def _handler(fake: FakeKubernetes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows failures, not access logs."""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            fake.requests.append((method, url.path))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    raise ApiError(401, "Unauthorized", "Unauthorized")
                body = json.loads(raw) if raw else None
                result = self._route(method, url.path, query, body)
            except ApiError as exc:
                self._send(exc.code, exc.body())
                return
            if isinstance(result, str):
                self._send(200, result, content_type="text/plain")
            else:
                self._send(201 if method == "POST" else 200, result)

        def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
            if method == "GET" and path.rstrip("/") in _DISCOVERY:
                return _DISCOVERY[path.rstrip("/")]
            m = _PATH_RE.match(path)
            if not m or (m["prefix"], m["plural"]) not in _RESOURCES:
                raise ApiError(404, "NotFound", f"the server could not find {path}")
            prefix, ns, plural, name, sub = m["prefix"], m["ns"], m["plural"], m["name"], m["sub"]
            fault = fake.faults.get((method, plural))
            if fault is not None:
                raise ApiError(fault, "Injected", f"injected HTTP {fault} for {method} {plural}")
            kind = _RESOURCES[(prefix, plural)][0]
            if name is None:
                if method == "POST" and ns:
                    return fake.create(prefix, plural, ns, body or {})
                if method == "GET":
                    items = fake.list(plural, ns, query.get("labelSelector", ""))
                    items.sort(key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
                    return {"kind": f"{kind}List", "apiVersion": _API_VERSION[prefix],
                            "metadata": {"resourceVersion": fake.next_version()},
                            "items": copy.deepcopy(items)}
                raise ApiError(405, "MethodNotAllowed", f"{method} {path}")
            assert ns is not None
            if method == "GET" and sub == "log":
                return fake.controller.log(ns, name, int(query.get("tailLines") or 0) or None)
            if method == "GET" and sub == "scale":
                return fake.scale(ns, name, None)
            if method in ("PATCH", "PUT") and sub == "scale":
                return fake.scale(ns, name, ((body or {}).get("spec") or {}).get("replicas"))
            if method == "GET":
                obj = fake.get(plural, ns, name)
                if obj is None:
                    raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
                with fake.lock:
                    return copy.deepcopy(obj)
            if method == "PATCH":
                if isinstance(body, list):
                    raise ApiError(415, "UnsupportedMediaType", "JSON patch is not supported")
                with fake.lock:
                    return copy.deepcopy(fake.patch(plural, ns, name, body, sub))
            if method == "DELETE":
                return fake.delete(plural, ns, name)
            raise ApiError(405, "MethodNotAllowed", f"{method} {path}")

        def _send(self, code: int, payload: Any, content_type: str = "application/json") -> None:
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
