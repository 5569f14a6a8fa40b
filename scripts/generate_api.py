"""Regenerate ``shared/rekognito/api/_generated.py`` from botocore's Rekognition model.

The generated module holds one exception class per error shape of the service model and
the list of operation names, so that error codes are never typed by hand. Run
``make generate`` after upgrading botocore; ``tests/contract/test_generated.py`` fails
while the file is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import botocore.session

TARGET = Path(__file__).resolve().parents[1] / "shared" / "rekognito" / "api" / "_generated.py"

# HTTP status codes Rekognition answers with for each server-side (fault) error.
_FAULT_STATUS = {"InternalServerError": 500, "ThrottlingException": 400}


def render() -> str:
    model = botocore.session.get_session().get_service_model("rekognition")
    errors: set[str] = set()
    for name in model.operation_names:
        errors.update(shape.name for shape in model.operation_model(name).error_shapes)
    lines = [
        '"""Generated from botocore\'s Rekognition service model by scripts/generate_api.py.',
        "",
        "Do not edit by hand: run ``make generate``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from rekognito.errors import RekognitionError",
        "",
        f'BOTOCORE_API_VERSION = "{model.metadata["apiVersion"]}"',
        f'TARGET_PREFIX = "{model.metadata["targetPrefix"]}"',
        "",
        "OPERATION_NAMES: frozenset[str] = frozenset(",
        "    {",
    ]
    lines += [f'        "{name}",' for name in sorted(model.operation_names)]
    lines += ["    }", ")", ""]
    for name in sorted(errors):
        shape = model.shape_for(name)
        fault = bool(shape.metadata.get("fault"))
        status = _FAULT_STATUS.get(name, 500 if fault else 400)
        lines += [
            "",
            f"class {name}(RekognitionError):",
            f'    code = "{name}"',
            f"    status = {status}",
            "",
        ]
    lines.append("")
    lines.append("ERROR_CLASSES: dict[str, type[RekognitionError]] = {")
    lines += [f'    "{name}": {name},' for name in sorted(errors)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run make generate", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
