"""A stand-in for a user's application that calls Amazon Rekognition through boto3."""
