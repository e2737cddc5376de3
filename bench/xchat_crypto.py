"""X Chat's cryptography, per message and per Lambda instance: what the Chat XDK costs the
inbound processor (verify and decrypt) and the reply sender (encrypt and sign), next to
importing it, and how much it adds to the layer.

    .venv/bin/python -m bench.xchat_crypto [--messages 500]

A sandbox-style customer (tests.fakes.chat.ChatCustomer: real keys, X's encoded events)
writes to an account whose keys are made as twittnow.xchat makes them. Timed, as medians
over `--messages` calls (and the 95th percentile), in one process:

- per instance and account: Chat() + import_keys + set_identity (the key blob from
  Secrets Manager), and verify_key_binding of a public-key record (once per sender and
  key version, then cached);
- per conversation key: decrypt_events of a key change (verified), and
  decrypt_conversation_key of the stored, encrypted key (once per instance);
- per inbound message: decrypt_event, which verifies the sender's signature;
- per outbound message: encrypt_message, which signs;
- per attachment: decrypt_stream of 1 MiB.

Importing chat_xdk is timed in fresh processes (python -I), next to a bare import boto3.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench.cold_start import layer_size
from bench.common import machine, percentile
from tests.fakes.chat import ChatCustomer, signing_entry

ACCOUNT_ID, CUSTOMER_ID = "1500000000000000001", "1600000000000000002"
IMPORT_RUNS = 11


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--messages", type=int, default=500, help="calls timed per operation")
    runs = parser.parse_args().messages
    from chat_xdk import Chat

    account = ChatCustomer(ACCOUNT_ID)  # makes keys exactly as an account's identity
    blob, version = bytes(account.chat.export_keys()), account.record["public_key_version"]
    customer = ChatCustomer(CUSTOMER_ID)
    key_change = customer.start_conversation(ACCOUNT_ID, account.record)
    signing_keys = [signing_entry(CUSTOMER_ID, customer.record)]
    record = customer.record
    key_version = customer.latest[next(iter(customer.latest))]
    opened = account.chat.decrypt_events([key_change], signing_keys)
    conversation_key = opened["conversation_keys"]["keys"][key_version]
    encrypted_key = next(
        participant["encrypted_key"]
        for participant in opened["messages"][0]["event"]["participant_keys"]
        if participant["user_id"] == ACCOUNT_ID
    )
    messages = [customer.write(ACCOUNT_ID, f"My order {n} has not arrived.") for n in range(runs)]
    attachment = customer.encrypt_media(ACCOUNT_ID, os.urandom(1 << 20))

    def load_account() -> None:
        chat = Chat()
        chat.import_keys(blob, version)
        chat.set_identity(ACCOUNT_ID, version)

    pending = iter(messages)
    rows = [
        ("per instance: import the account's keys", load_account),
        (
            "per sender key: verify_key_binding",
            lambda: account.chat.verify_key_binding(
                record["public_key"],
                record["signing_public_key"],
                record["identity_public_key_signature"],
            ),
        ),
        (
            "per key change: decrypt_events (verify)",
            lambda: account.chat.decrypt_events([key_change], signing_keys),
        ),
        (
            "per stored key: decrypt_conversation_key",
            lambda: account.chat.decrypt_conversation_key(encrypted_key),
        ),
        (
            "per inbound message: decrypt_event",
            lambda: account.chat.decrypt_event(
                next(pending).encoded_event, {key_version: conversation_key}, signing_keys
            ),
        ),
        (
            "per outbound message: encrypt_message",
            lambda: account.chat.encrypt_message(
                f"{CUSTOMER_ID}:{ACCOUNT_ID}",
                "Thanks, we are on it: your case is CS0001001.",
                conversation_key=conversation_key,
                conversation_key_version=key_version,
            ),
        ),
        (
            "per attachment: decrypt_stream, 1 MiB",
            lambda: account.chat.decrypt_stream(attachment, conversation_key),
        ),
    ]
    print(f"X Chat cryptography, chatxdk {_version()}, {machine()}, {runs} calls each")
    print(f"{'':44} {'median ms':>10} {'p95 ms':>8}")
    for name, call in rows:
        samples = [_timed(call) for _ in range(runs)]
        print(f"{name:44} {statistics.median(samples):10.3f} {percentile(samples, 0.95):8.3f}")
    baseline = statistics.median(_import_ms("boto3") for _ in range(IMPORT_RUNS))
    chat = statistics.median(_import_ms("chat_xdk") for _ in range(IMPORT_RUNS))
    print(f"import chat_xdk, fresh process: {chat:.1f} ms (import boto3: {baseline:.1f} ms)")
    layer_size()


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _import_ms(module: str) -> float:
    program = f"import time; t = time.perf_counter(); import {module}; "
    program += "print((time.perf_counter() - t) * 1000)"
    done = subprocess.run(
        [sys.executable, "-I", "-c", program], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def _version() -> str:
    from importlib.metadata import version

    return version("chatxdk")


if __name__ == "__main__":
    main()
