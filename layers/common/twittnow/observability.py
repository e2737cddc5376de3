"""The one logger and the metrics every function uses. Events are never logged whole:
they carry passwords and tokens. Metrics go to CloudWatch in the embedded metric format,
flushed by the handlers that count.

The service and namespace are named here, not by POWERTOOLS_* variables: Powertools reads
those when this module is imported, which the local stack's tests may do before any
stack's variables are set."""

import logging
import warnings

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = "twittnow"
METRICS_NAMESPACE = "Twittnow"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE)


def count(name: str, value: int = 1) -> None:
    # Disabled metrics (the local stack's default) are not even added: Powertools would
    # still print a metric's values every hundredth one.
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_failure(kind: str) -> None:
    """One failed attempt at a queued message, by kind (the error's class)."""
    with single_metric(
        name="Failures", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
    ) as metric:
        metric.add_dimension(name="kind", value=kind)


# botocore logs every request's parameters at DEBUG, Secrets Manager's SecretString
# among them, and Lambda's log level controls can set the root logger to DEBUG: the
# AWS SDK's loggers never go below INFO, whatever the root logger says.
for _sdk_logger in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_sdk_logger).setLevel(logging.INFO)

# An invocation that counts nothing (a refused delivery, or metrics disabled) is normal, and
# Powertools would warn about it on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")
