#!/usr/bin/env python3
"""Independent reference for PROTOCOL.md §6 (fingerprint and safety number), using only hashlib.

Prints the vector for the RFC 7748 §6.1 keys; crypto-core's self-test pins the same values.
"""
import base64
import hashlib

VERSION = b"\x00\x00"
IDENTIFIER = b"p2p-chat"
ITERATIONS = 5200


def fingerprint_digits(key: bytes) -> str:
    digest = VERSION + key + IDENTIFIER
    for _ in range(ITERATIONS):
        digest = hashlib.sha512(digest + key).digest()
    return "".join(f"{int.from_bytes(digest[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))


def group(digits: str) -> str:
    return " ".join(digits[i:i + 5] for i in range(0, len(digits), 5))


def safety_number(a: bytes, b: bytes) -> str:
    return group("".join(sorted([fingerprint_digits(a), fingerprint_digits(b)])))


if __name__ == "__main__":
    alice = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    bob = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    print("key_a", base64.b64encode(alice).decode())
    print("key_b", base64.b64encode(bob).decode())
    print("fingerprint_a", group(fingerprint_digits(alice)))
    print("fingerprint_b", group(fingerprint_digits(bob)))
    print("safety_number", safety_number(alice, bob))
