#!/usr/bin/env python3
"""Independent reference for provisioning protocol v1 (DESIGN.md §4, core/src/provision/mod.rs).

Computes the test vectors in provision_v1.json with Python's hmac/hashlib and the
`cryptography` package (ChaCha20-Poly1305), without any ddlink code, so the Rust tests of the
device (ddlink-core) and the gateway (ddlink-gateway) check against a second implementation.

    python3 core/tests/vectors/provision_v1.py > core/tests/vectors/provision_v1.json
"""

import base64
import hashlib
import hmac
import json
import struct

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305


def h(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def lp16(text: str) -> bytes:
    raw = text.encode("ascii")
    return struct.pack(">H", len(raw)) + raw


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def vector(name, fleet_key, fleet, device_id, challenge, device_nonce, seal_nonce, api_key,
           key_version, site, api_host, logs_host, server_time, lease_secs, last_error=None):
    secret = h(fleet_key, b"ddlink/device/v1" + b"\x00" + fleet.encode() + b"\x00" + device_id.encode())
    report = b"" if last_error is None else b"\x00" + last_error.encode()
    mac = h(secret, b"ddlink/provision/v1" + challenge + device_nonce + device_id.encode() + report)
    seal_key = h(secret, b"ddlink/seal/v1" + challenge + device_nonce)
    aad = (b"ddlink/aad/v1" + lp16(device_id) + struct.pack(">I", key_version) + lp16(site)
           + lp16(api_host) + lp16(logs_host) + struct.pack(">Q", server_time)
           + struct.pack(">I", lease_secs))
    sealed = ChaCha20Poly1305(seal_key).encrypt(seal_nonce, api_key.encode(), aad)
    fields = {"fleet": fleet, "device_id": device_id, "challenge": b64(challenge),
              "device_nonce": b64(device_nonce)}
    if last_error is not None:
        fields["last_error"] = last_error
    fields["mac"] = b64(mac)
    request = json.dumps(fields, separators=(",", ":"))
    response = json.dumps({"status": "approved", "key_version": key_version, "site": site,
                           "api_host": api_host, "logs_host": logs_host, "server_time": server_time,
                           "lease_secs": lease_secs, "nonce": b64(seal_nonce), "sealed_key": b64(sealed)}, separators=(",", ":"))
    return {
        "name": name,
        "inputs": {
            "fleet_key_hex": fleet_key.hex(), "fleet": fleet, "device_id": device_id,
            "challenge_hex": challenge.hex(), "device_nonce_hex": device_nonce.hex(),
            "seal_nonce_hex": seal_nonce.hex(), "api_key": api_key, "key_version": key_version,
            "site": site, "api_host": api_host, "logs_host": logs_host, "server_time": server_time,
            "lease_secs": lease_secs, "last_error": last_error,
        },
        "outputs": {
            "device_secret_hex": secret.hex(), "mac_hex": mac.hex(), "seal_key_hex": seal_key.hex(),
            "aad_hex": aad.hex(), "sealed_key_hex": sealed.hex(),
            "provision_request_body": request, "approved_response_body": response,
        },
    }


def counting(start: int, n: int) -> bytes:
    return bytes((start + i) & 0xFF for i in range(n))


VECTORS = [
    vector("eu1", counting(0x00, 32), "acme-fleet", "pump-0007", counting(0x20, 32),
           counting(0xA0, 16), counting(0xC0, 12), "0123456789abcdef0123456789abcdef", 3,
           "datadoghq.eu", "api.datadoghq.eu", "http-intake.logs.datadoghq.eu", 1795000000, 86400),
    vector("sandbox", bytes.fromhex("ff" * 32), "demo", "sim.device_01", bytes(32),
           bytes.fromhex("ff" * 16), bytes(12), "k" * 64, 1, "datadoghq.localhost:8080",
           "api.datadoghq.localhost:8080", "http-intake.logs.datadoghq.localhost:8080", 0, 60),
    vector("us5_forbidden", counting(0x40, 32), "meters", "meter-42", counting(0x60, 32),
           counting(0x80, 16), counting(0x90, 12), "fedcba9876543210fedcba9876543210", 7,
           "us5.datadoghq.com", "api.us5.datadoghq.com", "http-intake.logs.us5.datadoghq.com",
           1800000000, 2592000, last_error="forbidden"),
]

print(json.dumps({"protocol": "ddlink provisioning v1",
                  "generated_by": "core/tests/vectors/provision_v1.py (Python hmac, hashlib, cryptography)",
                  "vectors": VECTORS}, indent=2))
