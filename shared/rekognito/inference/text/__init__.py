"""Text detection and recognition for DetectText (PP-OCR ONNX models, numpy and Pillow; no OpenCV).

* :mod:`.detection`: DB probability map -> rotated line rectangles (unclipped);
* :mod:`.classifier`: 0/180 degree direction of each line crop;
* :mod:`.recognition`: CTC recognition with each character's position;
* :mod:`.reader`: the pipeline, words split at spaces, lines in reading order;
* :mod:`.geometry`, :mod:`.components`: the numpy geometry underneath.
"""

from rekognito.inference.text.geometry import Quad
from rekognito.inference.text.reader import TEXT_MODEL_VERSION, TextLine, TextReader, Word

__all__ = ["TEXT_MODEL_VERSION", "Quad", "TextLine", "TextReader", "Word"]
