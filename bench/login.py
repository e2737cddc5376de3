"""Login: the time POST /auth/login/ takes in-process (the local API Gateway handing the
request to the function, against the embedded AWS), next to the Argon2id verification
alone, the key derivation function every login runs once.

    .venv/bin/python -m bench.login [--samples 100]

The admin logs in with the right password, warm; the KDF verifies a hash made with the
product's parameters (twittnow.passwords: 46 MiB, 1 pass, 1 lane).
"""

import argparse
import json

from bench.common import ADMIN_PASSWORD, ADMIN_USERNAME, machine, percentile, start_stack, timed
from local.gateway import HttpRequest
from twittnow.passwords import hash_password, verify_password

WARM_UP = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="timed calls of each kind")
    samples = parser.parse_args().samples

    body = json.dumps({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}).encode()
    request = HttpRequest(
        "POST", "/auth/login/", [("Content-Type", "application/json")], body, "127.0.0.1"
    )
    password_hash = hash_password(ADMIN_PASSWORD)
    times = {"login": [], "kdf": []}
    stack = start_stack()

    def login() -> None:
        assert stack.handle(request).status == 200

    def kdf() -> None:
        assert verify_password(password_hash, ADMIN_PASSWORD)

    try:
        for index in range(WARM_UP + samples):
            measured = {"login": timed(login), "kdf": timed(kdf)}  # interleaved: same drift
            if index >= WARM_UP:
                for kind, elapsed in measured.items():
                    times[kind].append(elapsed)
    finally:
        stack.stop()

    print(f"login, {samples} warm calls of each, {machine()}")
    for kind, label in (("login", "POST /auth/login/"), ("kdf", "Argon2id verify alone")):
        p50, p99 = percentile(times[kind], 0.50), percentile(times[kind], 0.99)
        print(f"  {label:24} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    share = percentile(times["kdf"], 0.50) / percentile(times["login"], 0.50)
    print(f"  the KDF is {share:.0%} of a login's p50")


if __name__ == "__main__":
    main()
