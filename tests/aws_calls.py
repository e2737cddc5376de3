"""Watching what a boto3 client asks AWS, for tests that count calls."""


def count_reads(secrets_client) -> list[str]:
    """The secrets `secrets_client` reads from now on, one entry per GetSecretValue."""
    reads: list[str] = []
    secrets_client.meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue",
        lambda params, **_: reads.append(params["SecretId"]),
    )
    return reads
