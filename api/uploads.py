"""Receiving an uploaded file without trusting its sender.

The route reads the request itself (FastAPI's `UploadFile` parses and spools the whole body before the
route, or its authentication, runs): the caller is authenticated first, a declared `Content-Length` over
the limit is refused before a byte is read, and the multipart body is streamed into one file under the
limit, counting every byte received, so a body without a length (chunked) is cut off at the limit too.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from api.problems import PayloadTooLarge
from geo.errors import InputRejected

#: the multipart field that carries the file
FIELD = "file"
#: how an upload is described in the OpenAPI document
REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [FIELD],
                "properties": {FIELD: {"type": "string", "format": "binary", "description": "the census file"}},
            }
        }
    },
}


def check_length(request: Request, limit: int, limit_mb: float) -> None:
    """Refuse a body whose declared length is over the limit, before reading any of it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body ({int(declared):,} bytes) is larger than the {limit_mb:g} MB limit")


class _Receiver:
    """Callbacks of the streaming multipart parser: the `file` part goes to disk, other parts are dropped."""

    def __init__(self, dest: Path, limit: int, limit_mb: float, allowed: frozenset[str]):
        self.dest, self.limit, self.limit_mb, self.allowed = dest, limit, limit_mb, allowed
        self.headers: dict[bytes, bytes] = {}
        self.field = self.value = b""
        self.out: BinaryIO | None = None
        self.name: str | None = None
        self.path: Path | None = None
        self.size = 0

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.field.lower()] = self.value
        self.field = self.value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        if params.get(b"name") != FIELD.encode() or self.out is not None:
            return
        raw = params.get(b"filename", b"upload").decode("utf-8", "replace")
        self.name = Path(raw.replace("\\", "/")).name or "upload"
        suffix = Path(self.name).suffix.lower()
        if suffix not in self.allowed:
            raise InputRejected(
                f"{self.name}: unsupported file type {suffix or '(none)'}; send {', '.join(sorted(self.allowed))}"
            )
        self.path = self.dest / self.name
        self.out = open(self.path, "wb")  # noqa: SIM115 - closed in on_part_end / close()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.out is None:
            return
        self.size += end - start
        if self.size > self.limit:
            raise PayloadTooLarge(f"{self.name}: larger than the {self.limit_mb:g} MB upload limit")
        self.out.write(data[start:end])

    def on_part_end(self) -> None:
        if self.out is not None and not self.out.closed:
            self.out.close()

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


async def receive_file(
    request: Request, dest: Path, limit: int, limit_mb: float, allowed: frozenset[str]
) -> tuple[str, Path]:
    """Stream the request's multipart `file` part into `dest`; returns the file's name and path."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise InputRejected("send the file as multipart/form-data in a field named 'file' (curl -F file=@FILE)")
    receiver = _Receiver(dest, limit, limit_mb, allowed)
    callbacks = {name: getattr(receiver, name) for name in dir(_Receiver) if name.startswith("on_")}
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + 64 * 1024:  # the file part plus a little room for the multipart framing
                raise PayloadTooLarge(f"the request body is larger than the {limit_mb:g} MB upload limit")
            parser.write(chunk)
        parser.finalize()
    finally:
        receiver.close()
    if receiver.path is None or receiver.name is None:
        raise InputRejected("no file: send it in a multipart field named 'file' (curl -F file=@FILE)")
    return receiver.name, receiver.path
