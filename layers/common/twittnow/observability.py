"""The one logger every function uses. Events are never logged whole: they carry
passwords and tokens."""

from aws_lambda_powertools import Logger

logger = Logger()
