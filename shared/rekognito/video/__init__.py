"""Stored-video analysis: Rekognition's asynchronous Start*/Get* video operations.

* :mod:`rekognito.video.decode`: PyAV (FFmpeg) probing and frame sampling.
* :mod:`rekognito.video.tracking`: faces followed between sampled frames (IoU + embedding).
* :mod:`rekognito.video.analysis`: what each job type computes per segment, and the merge.
* :mod:`rekognito.video.jobs`: the persistent job queue (SQLite in the data dir).
* :mod:`rekognito.video.worker`: leases segments, heartbeats, finishes and notifies.
* :mod:`rekognito.video.notify`: the SNS completion message.
* :mod:`rekognito.video.source`: the video object read from S3 on the caller's behalf.

PyAV is an optional dependency (the ``video`` extra); nothing here imports it at module
import time, so the API works without it and the video operations say so clearly.
"""
