"""Error types.

Every error a client can see is a :class:`RekognitionError` whose ``code`` is the error
code Amazon Rekognition uses. The classes for the codes of Rekognition's service model are
generated into :mod:`rekognito.api._generated`; the few protocol-level codes that every
AWS JSON service shares (unknown operation, bad signature, ...) are defined here.
"""

from __future__ import annotations


class RekognitionError(Exception):
    """An error with a Rekognition error code, safe to show to the client."""

    code = "InternalServerError"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownOperationException(RekognitionError):
    code = "UnknownOperationException"


class SerializationException(RekognitionError):
    code = "SerializationException"


class MissingAuthenticationTokenException(RekognitionError):
    code = "MissingAuthenticationTokenException"
    status = 403


class UnrecognizedClientException(RekognitionError):
    code = "UnrecognizedClientException"
    status = 400


class InvalidSignatureException(RekognitionError):
    code = "InvalidSignatureException"
    status = 400


class IncompleteSignatureException(RekognitionError):
    code = "IncompleteSignatureException"
    status = 400
