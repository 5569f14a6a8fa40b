"""Hypothesis strategies for hostile Rekognition requests, and the invariants every answer keeps.

Requests are generated from botocore's Rekognition input shapes (the same model the server
parses against): valid values that honour min/max/pattern/enum, boundary values, then one
mutation that makes them invalid (a wrong type, an unknown member, a missing required member,
a huge or non-ASCII string, a negative or NaN-ish number, a list past its bounds). Images are
drawn from a corpus of hostile and odd files (truncated photos, headers followed by garbage,
a decompression bomb, CMYK, 16-bit, palette, animated, EXIF-rotated) plus random bytes.
A few bodies are hostile at the protocol level (invalid JSON, deep nesting, huge numbers).

Every answer must be a well-formed Rekognition error (HTTP 4xx, JSON ``__type`` + ``Message``,
``x-amzn-RequestId``, no traceback) or a 200 whose body fits the operation's output shape; it
must never be a 5xx or a hang, and a rejected request must leave the store unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from botocore.model import Shape
from hypothesis import strategies as st
from PIL import Image

from rekognito.api.model import operation_model
from rekognito.operations import load_all
from rekognito.operations.registry import OPERATIONS
from rekognito.services import Services
from tests.support.shapes import assert_output_shape
from tests.support.test_data import image_path

TARGET_PREFIX = "RekognitionService"
CONTENT_TYPE = "application/x-amz-json-1.1"
REQUEST_TIMEOUT_S = 60.0
# Collections the fuzzer works on, so that many requests reach the operations' logic.
COLLECTIONS = ("fuzz-a", "fuzz-b")
MISSING_COLLECTION = "fuzz-missing"
USERS = ("user-1", "user-2")
# Replaced, at send time, by the id of a face that exists in the store.
KNOWN_FACE = "00000000-0000-4000-8000-00000000face"
# Operations whose side effects are kept small: they are drawn less often.
RARE_OPERATIONS = frozenset({"DeleteCollection"})
MAX_COLLECTION_SIZE = 8
MAX_TEXT = 64
HUGE = 200_000


def implemented_operations() -> list[str]:
    load_all()
    return sorted(OPERATIONS)


# -- the image corpus ---------------------------------------------------------------------


def _save(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _small_photo(name: str, width: int) -> Image.Image:
    image = Image.open(image_path(name)).convert("RGB")
    return image.resize((width, round(image.height * width / image.width)))


def decompression_bomb() -> bytes:
    """A PNG that declares 20000x20000 pixels in a few hundred KB."""
    return _save(Image.new("L", (20000, 20000)), "PNG", optimize=True)


def exif_rotated(name: str, orientation: int = 6) -> bytes:
    image = _small_photo(name, 320).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(image, "JPEG", quality=85, exif=exif.tobytes())


@cache
def image_corpus() -> dict[str, bytes]:
    """Named hostile, odd and real images. Real photos are downscaled to keep requests cheap."""
    obama = image_path("obama.jpg").read_bytes()
    group = image_path("group6.jpg").read_bytes()
    small = _save(_small_photo("obama.jpg", 240), "JPEG", quality=85)
    sixteen = Image.new("I;16", (64, 48))
    sixteen.putdata([(i * 97) % 65536 for i in range(64 * 48)])
    palette = Image.new("P", (40, 30), 3)
    palette.putpalette([(i * 7) % 256 for i in range(768)])
    frames = [Image.new("RGB", (32, 32), (i * 60, 0, 0)) for i in range(3)]
    animated = _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50, loop=0)
    corpus = {
        "empty": b"",
        "jpeg-header-garbage": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4,
        "png-header-garbage": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(255, 0, -1)) * 4,
        "png-ihdr-zero-size": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 8 + b"\x08\x02\x00\x00\x00",
        "truncated-photo-third": obama[: len(obama) // 3],
        "truncated-photo-header": obama[:600],
        "truncated-photo-last-byte": obama[:-1],
        "gif": _save(Image.new("RGB", (16, 16)), "GIF"),
        "bmp": _save(Image.new("RGB", (16, 16)), "BMP"),
        "webp": _save(Image.new("RGB", (16, 16)), "WEBP"),
        "tiff": _save(Image.new("RGB", (16, 16)), "TIFF"),
        "one-pixel-png": _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"),
        "one-pixel-jpeg": _save(Image.new("RGB", (1, 1)), "JPEG"),
        "wide-strip-png": _save(Image.new("L", (4000, 1)), "PNG"),
        "tiny-grey-jpeg": _save(Image.new("L", (48, 48), 128), "JPEG"),
        "cmyk-jpeg": _save(_small_photo("obama.jpg", 160).convert("CMYK"), "JPEG"),
        "sixteen-bit-png": _save(sixteen, "PNG"),
        "palette-transparent-png": _save(palette, "PNG", transparency=3),
        "rgba-png": _save(Image.new("RGBA", (40, 40), (0, 0, 0, 0)), "PNG"),
        "animated-png": animated,
        "progressive-jpeg": _save(_small_photo("biden.jpg", 200), "JPEG", progressive=True),
        "exif-rotated-photo": exif_rotated("obama2.jpg"),
        "exif-bad-orientation": exif_rotated("obama3.jpg", orientation=99),
        "decompression-bomb": decompression_bomb(),
        "small-photo": small,
        "photo": obama,
        "group-photo": group,
    }
    corpus["over-5mb"] = small + b"\0" * (5 * 1024 * 1024 + 1 - len(small))
    return corpus


# How often each corpus entry is drawn, relative to the others: costly ones are rare.
_COSTLY = {"photo": 1, "group-photo": 1, "over-5mb": 1, "decompression-bomb": 1, "small-photo": 3}


def image_bytes() -> st.SearchStrategy[bytes]:
    corpus = image_corpus()
    weighted = [data for name, data in corpus.items() for _ in range(_COSTLY.get(name, 4))]
    headers = st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF", b""])
    garbage = st.builds(lambda head, tail: head + tail, headers, st.binary(max_size=2048))
    cut = st.builds(
        lambda data, frac: data[: int(len(data) * frac)], st.sampled_from(weighted), st.floats(0, 1)
    )
    return st.one_of(st.sampled_from(weighted), garbage, cut)


# -- valid values from shapes -------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _regex_strategy(pattern: str, low: int, high: int) -> st.SearchStrategy[str] | None:
    try:
        compiled = re.compile(pattern, re.DOTALL)
    except re.error:
        return None
    return (
        st.from_regex(compiled, fullmatch=True)
        .map(lambda s: s[:high])
        .filter(lambda s: len(s) >= low and compiled.fullmatch(s) is not None)
    )


def _string(shape: Shape) -> st.SearchStrategy[str]:
    meta = shape.metadata
    low, high = int(meta.get("min", 0)), min(int(meta.get("max", MAX_TEXT)), MAX_TEXT)
    if shape.enum:
        return st.sampled_from(list(shape.enum))
    name = shape.name
    if name == "CollectionId":
        return st.sampled_from([*COLLECTIONS, *COLLECTIONS, MISSING_COLLECTION]) | st.from_regex(
            r"fuzz-[a-z0-9]{1,6}", fullmatch=True
        )
    if name == "FaceId":
        return st.just(KNOWN_FACE) | st.uuids().map(str)
    if name == "UserId":
        return st.sampled_from(USERS) | st.from_regex(r"[a-z0-9_.\-:]{1,12}", fullmatch=True)
    if name == "ResourceArn":
        return st.sampled_from(
            [f"arn:aws:rekognition:us-east-1:000000000000:collection/{c}" for c in (*COLLECTIONS, "nope")]
        )
    if name == "S3Bucket":
        return st.just("fuzz-bucket")
    if "pattern" in meta:
        found = _regex_strategy(meta["pattern"], low, high)
        if found is not None:
            return found
        return st.text(st.characters(categories=["L", "N"]), min_size=max(low, 1), max_size=high)
    return st.text(min_size=low, max_size=max(low, high))


def _image() -> st.SearchStrategy[dict[str, Any]]:
    s3 = st.fixed_dictionaries(
        {"S3Object": st.fixed_dictionaries({"Bucket": st.just("fuzz-bucket"), "Name": st.just("k.jpg")})}
    )
    inline = st.fixed_dictionaries({"Bytes": image_bytes().map(_b64)})
    return st.one_of(*([inline] * 19), s3)


def valid_value(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that fit ``shape`` (often at its boundaries); images from the hostile corpus."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        if shape.name == "Image":
            return _image()
        members: dict[str, Shape] = shape.members  # type: ignore[attr-defined]
        required = set(shape.required_members)  # type: ignore[attr-defined]
        if depth > 5:
            return st.just({})
        fixed = {k: valid_value(v, depth + 1) for k, v in members.items() if k in required}
        optional = {k: valid_value(v, depth + 1) for k, v in members.items() if k not in required}
        return st.fixed_dictionaries(fixed, optional=optional)
    if kind == "list":
        low = int(meta.get("min", 0))
        high = min(int(meta.get("max", MAX_COLLECTION_SIZE)), max(low, MAX_COLLECTION_SIZE))
        return st.lists(valid_value(shape.member, depth + 1), min_size=low, max_size=high)  # type: ignore[attr-defined]
    if kind == "map":
        low = int(meta.get("min", 0))
        high = min(int(meta.get("max", MAX_COLLECTION_SIZE)), max(low, MAX_COLLECTION_SIZE))
        return st.dictionaries(
            valid_value(shape.key, depth + 1),  # type: ignore[attr-defined]
            valid_value(shape.value, depth + 1),  # type: ignore[attr-defined]
            min_size=low,
            max_size=high,
        )
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        low, high = int(meta.get("min", -(2**31))), int(meta.get("max", 2**31 - 1))
        return st.sampled_from([low, high]) | st.integers(low, high)
    if kind in ("float", "double"):
        low_f, high_f = float(meta.get("min", -1e6)), float(meta.get("max", 1e6))
        return st.sampled_from([low_f, high_f]) | st.floats(low_f, high_f, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "blob":
        return image_bytes().map(_b64)
    if kind == "timestamp":
        return st.floats(0, 2e9)
    return st.none()


# -- invalid values -----------------------------------------------------------------------

NASTY_STRINGS = [
    "",
    " ",
    "NaN",
    "Infinity",
    "-Infinity",
    "-1",
    "1e309",
    "null",
    "true",
    "../../etc/passwd",
    "%00",
    "\x00",
    "\u202e\u0000\ufeff",
    "\ud83d\ude00" * 3,
    "' OR 1=1 --",
    "\U0001f600" * 10,
    "a" * 256,
]

WRONG_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    -(2**63),
    2**64,
    10**100,
    -0.0,
    1.5,
    1e308,
    "NaN",
    [],
    [1, "a", None],
    {},
    {"nested": {"deeper": [{}]}},
]


def invalid_value() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(WRONG_VALUES),
        st.sampled_from(NASTY_STRINGS),
        st.text(max_size=40),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.just("x" * HUGE),
        st.just("\u00e9\u4e2d\U0001f600" * (HUGE // 8)),
        st.lists(st.integers(), min_size=200, max_size=400),
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found.extend(_paths(item, (*prefix, index)))
    return found


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        root = root[step]
    return root


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    return _get(root, path[:-1])


MUTATIONS = ("replace", "extra-member", "drop", "null", "replace", "duplicate-list")


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``base`` with one thing made invalid; returns the value and a description."""
    value = json.loads(json.dumps(base))
    paths = _paths(value)
    kind = draw(st.sampled_from(MUTATIONS))
    if not paths or kind == "extra-member":
        containers = [p for p in paths if isinstance(_get(value, p), dict)]
        target_path = draw(st.sampled_from([(), *containers]))
        target = _get(value, target_path)
        key = draw(st.sampled_from(["Surprise", "__proto__", "collectionid", "Bytes", "\u00fc"]))
        if key in target:
            key += "X"
        target[key] = draw(invalid_value())
        return value, f"extra member {key!r} at {list(target_path)}"
    path = draw(st.sampled_from(paths))
    parent = _parent(value, path)
    if kind == "drop":
        del parent[path[-1]]
        return value, f"dropped {list(path)}"
    if kind == "null":
        parent[path[-1]] = None
        return value, f"null at {list(path)}"
    if kind == "duplicate-list" and isinstance(parent[path[-1]], list):
        parent[path[-1]] = parent[path[-1]] * 200 or [None] * 200
        return value, f"list at {list(path)} made long"
    parent[path[-1]] = draw(invalid_value())
    return value, f"replaced {list(path)}"


# -- whole requests -----------------------------------------------------------------------


@dataclass(frozen=True)
class FuzzRequest:
    operation: str  # the X-Amz-Target operation name, possibly not a real one
    body: bytes
    note: str
    expect_error: bool  # True when the request was made invalid on purpose

    def reproducer(self) -> dict[str, Any]:
        """A JSON-able description that :func:`send` can replay (body base64 encoded)."""
        return {
            "operation": self.operation,
            "note": self.note,
            "body_b64": _b64(self.body) if len(self.body) <= 64_000 else None,
            "body_sha256": hashlib.sha256(self.body).hexdigest(),
            "body_bytes": len(self.body),
            "body_head": self.body[:300].decode("utf-8", "replace"),
        }


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


@st.composite
def shaped_request(draw: st.DrawFn, operation: str) -> FuzzRequest:
    shape = operation_model(operation).input_shape
    base: dict[str, Any] = draw(valid_value(shape)) if shape is not None else {}
    if draw(st.integers(0, 9)) < 4:
        return FuzzRequest(operation, _encode(base), "valid", expect_error=False)
    broken, note = draw(mutated(base))
    return FuzzRequest(operation, _encode(broken), note, expect_error=True)


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


PROTOCOL_BODIES: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("not json", b"{not json"),
    ("json array", b"[1,2,3]"),
    ("json string", b'"CollectionId"'),
    ("json null", b"null"),
    ("invalid utf-8", b'{"CollectionId":"\xff\xfe"}'),
    ("lone surrogate escape", b'{"CollectionId":"\\ud800"}'),
    ("duplicate keys", b'{"CollectionId":"fuzz-a","CollectionId":"fuzz-b"}'),
    ("nan literal", b'{"MaxResults":NaN}'),
    ("infinity literal", b'{"FaceMatchThreshold":Infinity}'),
    ("1e999", b'{"FaceMatchThreshold":1e999}'),
    ("trailing garbage", b'{"CollectionId":"fuzz-a"} trailing'),
    ("nul bytes", b"\x00" * 64),
    ("deep nesting 50", _deep(50)),
]
# Bodies that crashed the server (5xx) when first fuzzed; see docs/reliability.md.
PROTOCOL_BODIES_KNOWN_5XX: list[tuple[str, bytes]] = [
    ("deep nesting 100000", b"[" * 100_000),
    ("deep object nesting 5000", _deep(5000)),
    ("integer of 5000 digits", b'{"MaxResults":' + b"9" * 5000 + b"}"),
]


def protocol_request(operations: list[str]) -> st.SearchStrategy[FuzzRequest]:
    bogus = ["", "DoSomethingElse", "listcollections", "RekognitionService", "CreateProject", "../ListFaces"]
    bodies = st.sampled_from(PROTOCOL_BODIES)
    return st.one_of(
        st.builds(
            lambda op, named: FuzzRequest(op, named[1], f"protocol: {named[0]}", expect_error=True),
            st.sampled_from(operations),
            bodies,
        ),
        st.builds(
            lambda op: FuzzRequest(op, b"{}", "unknown target", expect_error=True),
            st.sampled_from(bogus),
        ),
    )


def request_strategy(operations: list[str] | None = None) -> st.SearchStrategy[FuzzRequest]:
    """Any fuzz request: mostly shaped after the input shapes, some hostile at protocol level."""
    names = operations or implemented_operations()
    weighted = [op for op in names for _ in range(1 if op in RARE_OPERATIONS else 4)]
    shaped = st.sampled_from(weighted).flatmap(shaped_request)
    return st.one_of(*([shaped] * 9), protocol_request(names))


# -- sending and checking -----------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    error: str | None = None  # a transport failure (timeout, reset): always a violation

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        if self.error:
            return f"transport:{self.error}"
        if self.status == 200:
            return "OK"
        try:
            return str(self.json.get("__type", "?"))
        except (ValueError, AttributeError):
            return "?"


def send(
    url: str, request: FuzzRequest, body: bytes | None = None, timeout: float = REQUEST_TIMEOUT_S
) -> Answer:
    """POST one request over a fresh HTTP connection (``body`` overrides the request's)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    started = time.perf_counter()
    headers = {"X-Amz-Target": f"{TARGET_PREFIX}.{request.operation}", "Content-Type": CONTENT_TYPE}
    try:
        connection.request("POST", "/", body=request.body if body is None else body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            payload,
            time.perf_counter() - started,
        )
    except TimeoutError:
        return Answer(0, {}, b"", time.perf_counter() - started, error="timeout")
    except (OSError, http.client.HTTPException) as exc:
        return Answer(0, {}, b"", time.perf_counter() - started, error=type(exc).__name__)
    finally:
        connection.close()


def answer_violations(request: FuzzRequest, answer: Answer) -> list[str]:
    """What is wrong with ``answer`` (empty when it keeps every invariant)."""
    if answer.error:
        return [f"no answer: {answer.error} after {answer.seconds:.1f}s"]
    problems: list[str] = []
    if b"Traceback" in answer.body:
        problems.append("traceback in body")
    if not answer.headers.get("x-amzn-requestid"):
        problems.append("no x-amzn-RequestId header")
    try:
        payload = answer.json
    except ValueError:
        return [*problems, f"HTTP {answer.status} body is not JSON: {answer.body[:120]!r}"]
    if answer.status == 200:
        try:
            assert_output_shape(request.operation, payload)
        except AssertionError as exc:
            problems.append(f"200 body does not fit the output shape: {exc}")
        if request.expect_error and not _tolerated_success(request):
            problems.append("invalid request answered 200")
        return problems
    if answer.status >= 500:
        problems.append(f"HTTP {answer.status} {payload.get('__type') if isinstance(payload, dict) else ''}")
    elif answer.status not in (400, 403, 404, 413):
        problems.append(f"unexpected HTTP status {answer.status}")
    if not isinstance(payload, dict):
        return [*problems, "error body is not an object"]
    if not isinstance(payload.get("__type"), str) or not payload["__type"]:
        problems.append("error without __type")
    if not isinstance(payload.get("Message"), str) or not payload["Message"]:
        problems.append("error without Message")
    elif "Traceback" in payload["Message"] or 'File "' in payload["Message"]:
        problems.append("stack trace in Message")
    return problems


def _tolerated_success(request: FuzzRequest) -> bool:
    # Dropping an optional member, or nulling one (null means absent in AWS JSON), keeps a
    # request valid; so can an extra member in a map, or a replacement that happens to fit.
    # Duplicate keys are valid JSON (the last one wins), as in AWS's parsers. An empty body
    # reads as {} (the server's documented choice), which is valid where nothing is required.
    if request.note == "protocol: empty body":
        shape = operation_model(request.operation).input_shape
        return shape is None or not shape.required_members
    return request.note.startswith(
        ("dropped", "null at", "replaced", "extra member", "list at", "protocol: duplicate keys")
    )


def declared_errors(operation: str) -> set[str]:
    try:
        return {shape.name for shape in operation_model(operation).error_shapes}
    except Exception:
        return set()


# -- store state --------------------------------------------------------------------------


def store_fingerprint(services: Services) -> str:
    """A digest of everything a request may change: collections (tags too), faces, users."""
    store = services.store
    state: list[Any] = []
    for collection in sorted(store.list_collections(), key=lambda c: c.collection_id):
        faces = store.list_faces(collection.collection_id, limit=100_000)
        users = store.list_users(collection.collection_id, limit=100_000)
        state.append(
            (
                repr(collection),
                sorted((f.face_id, f.image_id, f.user_id or "") for f in faces),
                sorted((u.user_id, u.status) for u in users),
            )
        )
    return hashlib.sha256(repr(state).encode()).hexdigest()


def a_face_id(services: Services) -> str | None:
    for collection in COLLECTIONS:
        try:
            faces = services.store.list_faces(collection, limit=1)
        except Exception:
            continue
        if faces:
            return faces[0].face_id
    return None


@dataclass
class FuzzStats:
    """Counts and violations of a fuzz run, as they go into reports/fuzz.json."""

    requests: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_error: dict[str, int] = field(default_factory=dict)
    undeclared_errors: dict[str, int] = field(default_factory=dict)
    slowest_s: float = 0.0
    violations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_operation": dict(sorted(self.by_operation.items())),
            "by_status": dict(sorted(self.by_status.items())),
            "by_error_code": dict(sorted(self.by_error.items(), key=lambda kv: -kv[1])),
            "errors_not_declared_by_the_operation": dict(sorted(self.undeclared_errors.items())),
            "slowest_request_s": round(self.slowest_s, 3),
            "violations": self.violations,
        }


# Errors any operation may answer, besides those its model declares.
PROTOCOL_ERRORS = frozenset(
    {"SerializationException", "UnknownOperationException", "ThrottlingException", "AccessDeniedException"}
)


class Fuzzer:
    """Sends fuzz requests to ``url`` and checks them against the store of ``services``."""

    def __init__(self, url: str, services: Services, *, max_violations: int = 50) -> None:
        self.url = url
        self.services = services
        self.stats = FuzzStats()
        self.max_violations = max_violations
        self.on_violation: Callable[[dict[str, Any]], None] | None = None

    def prepare(self) -> None:
        """Create the fuzz collections, with one real face, so that searches have targets."""
        for collection in COLLECTIONS:
            send(
                self.url,
                FuzzRequest("CreateCollection", _encode({"CollectionId": collection}), "setup", False),
            )
        photo = image_corpus()["small-photo"]
        body = _encode({"CollectionId": COLLECTIONS[0], "Image": {"Bytes": _b64(photo)}})
        send(self.url, FuzzRequest("IndexFaces", body, "setup", False))

    def run_one(self, request: FuzzRequest) -> Answer:
        body = request.body
        if KNOWN_FACE.encode() in body:
            known = a_face_id(self.services)
            if known:
                body = body.replace(KNOWN_FACE.encode(), known.encode())
        before = store_fingerprint(self.services)
        answer = send(self.url, request, body=body)
        problems = answer_violations(request, answer)
        if answer.status != 200 and not answer.error and store_fingerprint(self.services) != before:
            problems.append("rejected request changed the store")
        self._count(request, answer)
        if problems:
            violation = {
                "problems": problems,
                "status": answer.status,
                "code": answer.code,
                **request.reproducer(),
            }
            if len(self.stats.violations) < self.max_violations:
                self.stats.violations.append(violation)
            if self.on_violation is not None:
                self.on_violation(violation)
        return answer

    def _count(self, request: FuzzRequest, answer: Answer) -> None:
        stats = self.stats
        stats.requests += 1
        stats.by_operation[request.operation] = stats.by_operation.get(request.operation, 0) + 1
        status = str(answer.status) if not answer.error else "none"
        stats.by_status[status] = stats.by_status.get(status, 0) + 1
        code = answer.code
        stats.by_error[code] = stats.by_error.get(code, 0) + 1
        declared = declared_errors(request.operation)
        if code not in ("OK", "?") and declared and code not in declared and code not in PROTOCOL_ERRORS:
            key = f"{request.operation}:{code}"
            stats.undeclared_errors[key] = stats.undeclared_errors.get(key, 0) + 1
        stats.slowest_s = max(stats.slowest_s, answer.seconds)
