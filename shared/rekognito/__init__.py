"""rekognito: a self-hosted, Amazon Rekognition-compatible face search service."""

__version__ = "0.1.0"
