"""The one logger every function uses. Events are never logged whole: they carry
passwords and tokens."""

import logging

from aws_lambda_powertools import Logger

logger = Logger()

# botocore logs every request's parameters at DEBUG, Secrets Manager's SecretString
# among them, and Lambda's log level controls can set the root logger to DEBUG: the
# AWS SDK's loggers never go below INFO, whatever the root logger says.
for _sdk_logger in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_sdk_logger).setLevel(logging.INFO)
