"""Test code that calls Amazon Rekognition against a local rekognito, offline.

``local_rekognition()`` is a context manager and a decorator. Inside it, an unmodified
``boto3.client("rekognition")`` talks to a fresh local rekognito with its own temporary
data directory::

    with local_rekognition() as local:              # mode="http": a loopback endpoint
        boto3.client("rekognition").create_collection(CollectionId="family")

    @local_rekognition(mode="inprocess")            # no socket: botocore hands requests over
    def test_index():
        ...

``mode="http"`` serves the API on a free port of 127.0.0.1 and points
``AWS_ENDPOINT_URL_REKOGNITION`` there. ``mode="inprocess"`` opens no socket: a botocore
``before-send.rekognition`` handler answers each Rekognition request with the same handler
that serves Lambda, so it runs side by side with moto's ``mock_aws`` (which answers the
other services, S3 included, through the same event). Dummy credentials and a region are
set only where none are configured; every environment variable is restored afterwards.

The pytest fixtures built on this live in :mod:`rekognito.testing.pytest_plugin`. The package
is split by job: ``local`` (the public API), ``router`` (in-process mode), ``models`` (the
shared model cache), ``environment`` (credentials and region already configured),
``moto_interop`` (living with moto's ``mock_aws``).
"""

from rekognito.testing.environment import DUMMY_CREDENTIALS as DUMMY_CREDENTIALS
from rekognito.testing.environment import REGION as REGION
from rekognito.testing.local import ENDPOINT_ENV as ENDPOINT_ENV
from rekognito.testing.local import MODES as MODES
from rekognito.testing.local import LocalRekognition, Mode, local_rekognition
from rekognito.testing.models import SharedModels

__all__ = ["LocalRekognition", "Mode", "SharedModels", "local_rekognition"]
