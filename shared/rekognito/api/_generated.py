"""Generated from botocore's Rekognition service model by scripts/generate_api.py.

Do not edit by hand: run ``make generate``.
"""

from __future__ import annotations

from rekognito.errors import RekognitionError

BOTOCORE_API_VERSION = "2016-06-27"
TARGET_PREFIX = "RekognitionService"

OPERATION_NAMES: frozenset[str] = frozenset(
    {
        "AssociateFaces",
        "CompareFaces",
        "CopyProjectVersion",
        "CreateCollection",
        "CreateDataset",
        "CreateFaceLivenessSession",
        "CreateProject",
        "CreateProjectVersion",
        "CreateStreamProcessor",
        "CreateUser",
        "DeleteCollection",
        "DeleteDataset",
        "DeleteFaces",
        "DeleteProject",
        "DeleteProjectPolicy",
        "DeleteProjectVersion",
        "DeleteStreamProcessor",
        "DeleteUser",
        "DescribeCollection",
        "DescribeDataset",
        "DescribeProjectVersions",
        "DescribeProjects",
        "DescribeStreamProcessor",
        "DetectCustomLabels",
        "DetectFaces",
        "DetectLabels",
        "DetectModerationLabels",
        "DetectProtectiveEquipment",
        "DetectText",
        "DisassociateFaces",
        "DistributeDatasetEntries",
        "GetCelebrityInfo",
        "GetCelebrityRecognition",
        "GetContentModeration",
        "GetFaceDetection",
        "GetFaceLivenessSessionResults",
        "GetFaceSearch",
        "GetLabelDetection",
        "GetMediaAnalysisJob",
        "GetPersonTracking",
        "GetSegmentDetection",
        "GetTextDetection",
        "IndexFaces",
        "ListCollections",
        "ListDatasetEntries",
        "ListDatasetLabels",
        "ListFaces",
        "ListMediaAnalysisJobs",
        "ListProjectPolicies",
        "ListStreamProcessors",
        "ListTagsForResource",
        "ListUsers",
        "PutProjectPolicy",
        "RecognizeCelebrities",
        "SearchFaces",
        "SearchFacesByImage",
        "SearchUsers",
        "SearchUsersByImage",
        "StartCelebrityRecognition",
        "StartContentModeration",
        "StartFaceDetection",
        "StartFaceSearch",
        "StartLabelDetection",
        "StartMediaAnalysisJob",
        "StartPersonTracking",
        "StartProjectVersion",
        "StartSegmentDetection",
        "StartStreamProcessor",
        "StartTextDetection",
        "StopProjectVersion",
        "StopStreamProcessor",
        "TagResource",
        "UntagResource",
        "UpdateDatasetEntries",
        "UpdateStreamProcessor",
    }
)


class AccessDeniedException(RekognitionError):
    code = "AccessDeniedException"
    status = 400


class ConflictException(RekognitionError):
    code = "ConflictException"
    status = 400


class HumanLoopQuotaExceededException(RekognitionError):
    code = "HumanLoopQuotaExceededException"
    status = 400


class IdempotentParameterMismatchException(RekognitionError):
    code = "IdempotentParameterMismatchException"
    status = 400


class ImageTooLargeException(RekognitionError):
    code = "ImageTooLargeException"
    status = 400


class InternalServerError(RekognitionError):
    code = "InternalServerError"
    status = 500


class InvalidImageFormatException(RekognitionError):
    code = "InvalidImageFormatException"
    status = 400


class InvalidManifestException(RekognitionError):
    code = "InvalidManifestException"
    status = 400


class InvalidPaginationTokenException(RekognitionError):
    code = "InvalidPaginationTokenException"
    status = 400


class InvalidParameterException(RekognitionError):
    code = "InvalidParameterException"
    status = 400


class InvalidPolicyRevisionIdException(RekognitionError):
    code = "InvalidPolicyRevisionIdException"
    status = 400


class InvalidS3ObjectException(RekognitionError):
    code = "InvalidS3ObjectException"
    status = 400


class LimitExceededException(RekognitionError):
    code = "LimitExceededException"
    status = 400


class MalformedPolicyDocumentException(RekognitionError):
    code = "MalformedPolicyDocumentException"
    status = 400


class ProvisionedThroughputExceededException(RekognitionError):
    code = "ProvisionedThroughputExceededException"
    status = 400


class ResourceAlreadyExistsException(RekognitionError):
    code = "ResourceAlreadyExistsException"
    status = 400


class ResourceInUseException(RekognitionError):
    code = "ResourceInUseException"
    status = 400


class ResourceNotFoundException(RekognitionError):
    code = "ResourceNotFoundException"
    status = 400


class ResourceNotReadyException(RekognitionError):
    code = "ResourceNotReadyException"
    status = 400


class ServiceQuotaExceededException(RekognitionError):
    code = "ServiceQuotaExceededException"
    status = 400


class SessionNotFoundException(RekognitionError):
    code = "SessionNotFoundException"
    status = 400


class ThrottlingException(RekognitionError):
    code = "ThrottlingException"
    status = 400


class VideoTooLargeException(RekognitionError):
    code = "VideoTooLargeException"
    status = 400


ERROR_CLASSES: dict[str, type[RekognitionError]] = {
    "AccessDeniedException": AccessDeniedException,
    "ConflictException": ConflictException,
    "HumanLoopQuotaExceededException": HumanLoopQuotaExceededException,
    "IdempotentParameterMismatchException": IdempotentParameterMismatchException,
    "ImageTooLargeException": ImageTooLargeException,
    "InternalServerError": InternalServerError,
    "InvalidImageFormatException": InvalidImageFormatException,
    "InvalidManifestException": InvalidManifestException,
    "InvalidPaginationTokenException": InvalidPaginationTokenException,
    "InvalidParameterException": InvalidParameterException,
    "InvalidPolicyRevisionIdException": InvalidPolicyRevisionIdException,
    "InvalidS3ObjectException": InvalidS3ObjectException,
    "LimitExceededException": LimitExceededException,
    "MalformedPolicyDocumentException": MalformedPolicyDocumentException,
    "ProvisionedThroughputExceededException": ProvisionedThroughputExceededException,
    "ResourceAlreadyExistsException": ResourceAlreadyExistsException,
    "ResourceInUseException": ResourceInUseException,
    "ResourceNotFoundException": ResourceNotFoundException,
    "ResourceNotReadyException": ResourceNotReadyException,
    "ServiceQuotaExceededException": ServiceQuotaExceededException,
    "SessionNotFoundException": SessionNotFoundException,
    "ThrottlingException": ThrottlingException,
    "VideoTooLargeException": VideoTooLargeException,
}
