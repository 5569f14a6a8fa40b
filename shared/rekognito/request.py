"""What an operation receives besides its parameters: the request and the services it may use."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from rekognito.api._generated import InvalidParameterException
from rekognito.identity import Principal
from rekognito.images import MAX_IMAGE_BYTES, MAX_S3_IMAGE_BYTES, DecodedImage, decode_image
from rekognito.ports import Runtime


@dataclass
class RequestContext:
    """One request: who asks (a :class:`rekognito.identity.RequestInfo`) and, through
    ``services``, the ports it may use (the container of ``rekognito.services`` is one)."""

    services: Runtime
    request_id: str
    operation: str
    principal: Principal | None = None
    # Filled by operations for the audit trail: anything worth recording beyond the
    # request's own parameters (e.g. the collection a FaceId belonged to).
    audit: dict[str, Any] = field(default_factory=dict)

    def load_image(self, image: dict[str, Any]) -> DecodedImage:
        """Decode an ``Image`` parameter given as ``Bytes`` or ``S3Object``."""
        max_pixels = self.services.settings.max_image_pixels
        has_bytes = "Bytes" in image
        has_s3 = "S3Object" in image
        if has_bytes == has_s3:
            raise InvalidParameterException("Image must have exactly one of Bytes or S3Object")
        if has_bytes:
            raw = image["Bytes"]
            if isinstance(raw, str):
                try:
                    raw = base64.b64decode(raw, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise InvalidParameterException("Image.Bytes is not valid base64") from exc
            return decode_image(raw, max_pixels=max_pixels, max_bytes=MAX_IMAGE_BYTES)
        s3 = image["S3Object"]
        bucket, name = s3.get("Bucket"), s3.get("Name")
        if not bucket or not name:
            raise InvalidParameterException("S3Object needs Bucket and Name")
        # The server reads with its own credentials: only what the caller's grants allow.
        self.services.security.authorize_object_read(self, str(bucket), str(name))
        data = self.services.object_reader.read_object(bucket, name, s3.get("Version"), MAX_S3_IMAGE_BYTES)
        return decode_image(data, max_pixels=max_pixels, max_bytes=MAX_S3_IMAGE_BYTES)
