#!/usr/bin/env python3
"""Generates the RSA / X.509 test vectors of ddlink-core's `net` verifier, independently of the
Rust code: keys, signatures and certificates come from Python `cryptography` (OpenSSL).

    pip install cryptography==48.0.0
    python3 core/tests/data/x509/make_vectors.py   # rewrites the files next to this script

Outputs (all DER / raw bytes):
  rsa{2048,3072,4096}.spki.der         SubjectPublicKeyInfo of each test key
  message.bin                               the signed message
  rsa{bits}.pkcs1-sha{256,384,512}.sig      RSASSA-PKCS1-v1_5 signatures of message.bin
  rsa{bits}.pss-sha{256,384,512}.sig        RSASSA-PSS (MGF1 same hash, salt = hash length)
  dd-root.der        RSA-4096 self-signed root, sha384WithRSAEncryption (USERTrust-shaped)
  dd-intermediate.der RSA-2048 CA signed by dd-root, sha384WithRSAEncryption (Sectigo-shaped)
  dd-leaf.der        RSA-2048 leaf for *.datadoghq.com + datadoghq.com, sha256WithRSAEncryption
  dd-root-2.der      another RSA-4096 root (root rotation), nothing under it is served
  other-root.der     an unrelated RSA-2048 root
  ec-root.der        P-384 root (ecdsa-with-SHA384)
  ec-leaf.der        P-256 leaf for api.datadoghq.com signed by ec-root (ecdsa-with-SHA384)
  mixed-leaf.der     P-256 leaf for api.datadoghq.com signed by dd-intermediate (sha256WithRSA)
  not-ca-leaf.der    RSA-2048 leaf for api.datadoghq.com "issued" by dd-leaf (not a CA)
  root-leaf.der      RSA-2048 leaf for api.datadoghq.com signed directly by dd-root (benchmarks)
"""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def name(*parts):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def certificate(subject, issuer, public_key, signing_key, algorithm, ca, dns=None,
                not_before=datetime.datetime(2025, 1, 1), not_after=datetime.datetime(2035, 1, 1)):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    return builder.sign(signing_key, algorithm).public_bytes(serialization.Encoding.DER)


def main():
    message = b"ddlink RSA known-answer test message\n" * 3
    write("message.bin", message)
    for bits in (2048, 3072, 4096):
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        write(f"rsa{bits}.spki.der", spki(key))
        for label, algorithm in HASHES.items():
            write(f"rsa{bits}.pkcs1-{label}.sig", key.sign(message, padding.PKCS1v15(), algorithm))
            pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
            write(f"rsa{bits}.pss-{label}.sig", key.sign(message, pss, algorithm))

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    root_name = name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Test Trust Network"),
                     (NameOID.COMMON_NAME, "Test RSA Certification Authority"))
    write("dd-root.der", certificate(root_name, root_name, root_key.public_key(), root_key,
                                     hashes.SHA384(), True,
                                     not_before=datetime.datetime(2010, 2, 1),
                                     not_after=datetime.datetime(2038, 1, 18)))
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter_name = name((NameOID.COUNTRY_NAME, "GB"), (NameOID.ORGANIZATION_NAME, "Test CA Limited"),
                      (NameOID.COMMON_NAME, "Test RSA Domain Validation Secure Server CA"))
    write("dd-intermediate.der", certificate(inter_name, root_name, inter_key.public_key(), root_key,
                                             hashes.SHA384(), True,
                                             not_before=datetime.datetime(2018, 11, 2),
                                             not_after=datetime.datetime(2030, 12, 31)))
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf_name = name((NameOID.COMMON_NAME, "*.datadoghq.com"))
    write("dd-leaf.der", certificate(leaf_name, inter_name, leaf_key.public_key(), inter_key,
                                     hashes.SHA256(), False,
                                     dns=["*.datadoghq.com", "datadoghq.com"],
                                     not_before=datetime.datetime(2026, 1, 1),
                                     not_after=datetime.datetime(2027, 1, 31)))
    write("root-leaf.der", certificate(name((NameOID.COMMON_NAME, "api.datadoghq.com")), root_name,
                                       rsa.generate_private_key(65537, 2048).public_key(), root_key,
                                       hashes.SHA384(), False, dns=["api.datadoghq.com"]))
    ec_leaf_key = ec.generate_private_key(ec.SECP256R1())
    write("mixed-leaf.der", certificate(name((NameOID.COMMON_NAME, "api.datadoghq.com")), inter_name,
                                        ec_leaf_key.public_key(), inter_key, hashes.SHA256(), False,
                                        dns=["api.datadoghq.com"]))
    write("not-ca-leaf.der", certificate(name((NameOID.COMMON_NAME, "api.datadoghq.com")), leaf_name,
                                         rsa.generate_private_key(65537, 2048).public_key(), leaf_key,
                                         hashes.SHA256(), False, dns=["api.datadoghq.com"]))

    root2_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    root2_name = name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Test Trust Network"),
                      (NameOID.COMMON_NAME, "Test RSA Root R2"))
    write("dd-root-2.der", certificate(root2_name, root2_name, root2_key.public_key(), root2_key,
                                       hashes.SHA384(), True))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_name = name((NameOID.COMMON_NAME, "Unrelated Root"))
    write("other-root.der", certificate(other_name, other_name, other_key.public_key(), other_key,
                                        hashes.SHA256(), True))

    ec_root_key = ec.generate_private_key(ec.SECP384R1())
    ec_root_name = name((NameOID.COMMON_NAME, "Test ECC Root"))
    write("ec-root.der", certificate(ec_root_name, ec_root_name, ec_root_key.public_key(), ec_root_key,
                                     hashes.SHA384(), True))
    write("ec-leaf.der", certificate(name((NameOID.COMMON_NAME, "api.datadoghq.com")), ec_root_name,
                                     ec.generate_private_key(ec.SECP256R1()).public_key(), ec_root_key,
                                     hashes.SHA384(), False, dns=["api.datadoghq.com"]))


if __name__ == "__main__":
    main()
