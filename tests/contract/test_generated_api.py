"""The generated error classes and operation names match the installed botocore."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import botocore.session

from rekognito.api import _generated
from rekognito.errors import RekognitionError

ROOT = Path(__file__).resolve().parents[2]


def test_generated_module_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_api.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_model_error_has_a_class_with_its_code() -> None:
    model = botocore.session.get_session().get_service_model("rekognition")
    codes = {shape.name for op in model.operation_names for shape in model.operation_model(op).error_shapes}
    assert set(_generated.ERROR_CLASSES) == codes
    for code, cls in _generated.ERROR_CLASSES.items():
        assert issubclass(cls, RekognitionError) and cls.code == code
    assert _generated.InternalServerError.status == 500
