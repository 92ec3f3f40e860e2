#!/usr/bin/env python3
"""Known answers and an oracle for the AKCIPHER engines (RSA, ECDSA).

  python3 scripts/akcipher-vectors.py generate [--out PATH]
      Writes Tests/VirtioCryptoEnginesTests/AkcipherVectors.json from the published vector files
      that the PyPI package cryptography-vectors ships (NIST CAVP and RSA Laboratories files),
      converting every key to the encoding Virtio 1.4 gives it (DER RSAPublicKey/RSAPrivateKey,
      the bare SEC 1 point, DER ECPrivateKey) and adding vectors made by an independent
      implementation. Needs `pip install cryptography-vectors cryptography`. CI never runs this:
      the tests read the committed fixture.

  python3 scripts/akcipher-vectors.py oracle < requests.json > answers.json
      Checks results the engine produced at test time (AkcipherTests' differential test). Needs
      only the `cryptography` package (Debian: python3-cryptography).

Two implementations stand against the engine: the `cryptography` package (OpenSSL underneath:
the PyPI wheel bundles its own build, Debian's package uses the system libcrypto; either way
reached through other calls than the engine's) and plain Python integers (textbook RSA, and
EMSA-PKCS1-v1_5 built here from RFC 8017 §9.2), which share no code with OpenSSL at all. The
second caught what the first cannot: OpenSSL 3.0's MD4 DigestInfo names the wrong OID.
"""

import argparse
import hashlib
import json
import os
import re
import sys

# ---------------------------------------------------------------- DER, as X.690 writes it

def der_length(length):
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der(tag, content):
    return bytes([tag]) + der_length(len(content)) + content


def der_integer(value):
    assert value >= 0
    return der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def der_oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return der(0x06, bytes(body))


def rsa_public_der(n, e):
    """RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1)."""
    return der(0x30, der_integer(n) + der_integer(e))


def rsa_private_der(n, e, d, p, q):
    """RSAPrivateKey, version 0 (two primes), RFC 8017 A.1.2."""
    fields = [0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p)]
    return der(0x30, b"".join(der_integer(f) for f in fields))


def ec_private_der(curve, d, point, parameters=True, public_key=True):
    """ECPrivateKey (RFC 5915 §3): version 1, the scalar as an octet string of the order's
    length, optional [0] namedCurve, optional [1] the public point as a BIT STRING."""
    content = der_integer(1) + der(0x04, d.to_bytes(CURVES[curve]["order-bytes"], "big"))
    if parameters:
        content += der(0xA0, der_oid(CURVES[curve]["oid"]))
    if public_key:
        content += der(0xA1, der(0x03, b"\x00" + point))
    return der(0x30, content)


def ecdsa_signature_der(r, s):
    """ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 §2.2.3)."""
    return der(0x30, der_integer(r) + der_integer(s))


# ---------------------------------------------------------------- curves and hashes

# Orders n from FIPS 186-4 appendix D.1.2 (the same values `openssl ecparam -param_enc explicit`
# prints); OIDs from RFC 5480 §2.1.1.1; field sizes in bytes for the SEC 1 point encodings.
CURVES = {
    "nist-p192": {"cavp": "P-192", "oid": "1.2.840.10045.3.1.1", "field-bytes": 24,
                  "order": 0xFFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831},
    "nist-p224": {"cavp": "P-224", "oid": "1.3.132.0.33", "field-bytes": 28,
                  "order": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D},
    "nist-p256": {"cavp": "P-256", "oid": "1.2.840.10045.3.1.7", "field-bytes": 32,
                  "order": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551},
    "nist-p384": {"cavp": "P-384", "oid": "1.3.132.0.34", "field-bytes": 48,
                  "order": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                               "581A0DB248B0A77AECEC196ACCC52973", 16)},
    "nist-p521": {"cavp": "P-521", "oid": "1.3.132.0.35", "field-bytes": 66,
                  "order": int("01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
                               "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16)},
}
for _curve in CURVES.values():
    _curve["order-bytes"] = (_curve["order"].bit_length() + 7) // 8

# DigestInfo DER prefixes of EMSA-PKCS1-v1_5: RFC 8017 §9.2 note 1, and MD4's from RFC 2313
# §10.1.2 (OID 1.2.840.113549.2.4), which RFC 8017 no longer lists.
DIGEST_INFO = {
    "md2": "3020300c06082a864886f70d020205000410",
    "md4": "3020300c06082a864886f70d020405000410",
    "md5": "3020300c06082a864886f70d020505000410",
    "sha1": "3021300906052b0e03021a05000414",
    "sha224": "302d300d06096086480165030402040500041c",
    "sha256": "3031300d060960864801650304020105000420",
    "sha384": "3041300d060960864801650304020205000430",
    "sha512": "3051300d060960864801650304020305000440",
}
CAVP_HASH = {"SHA1": "sha1", "SHA-1": "sha1", "SHA224": "sha224", "SHA-224": "sha224", "SHA256": "sha256",
             "SHA-256": "sha256", "SHA384": "sha384", "SHA-384": "sha384", "SHA512": "sha512", "SHA-512": "sha512"}


def digest(name, message):
    return hashlib.new(name, message).digest()


def emsa_pkcs1_v15(hash_name, digest_bytes, k):
    """EM = 0x00 ‖ 0x01 ‖ PS (0xff…) ‖ 0x00 ‖ T, T = DigestInfo ‖ H, or H alone for NO_HASH."""
    t = (bytes.fromhex(DIGEST_INFO[hash_name]) if hash_name != "no-hash" else b"") + digest_bytes
    assert len(t) <= k - 11
    return b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


def modulus_bytes(n):
    return (n.bit_length() + 7) // 8


# ---------------------------------------------------------------- reading the published files

def vectors_dir():
    import cryptography_vectors
    return os.path.dirname(cryptography_vectors.__file__)


def read_rsa_labs(path):
    """The RSA Laboratories files (pkcs1v15sign-vectors.txt, pkcs1v15crypt-vectors.txt): per
    "# Example N" a key, then labelled hex blocks. Yields (example, key fields, [blocks]) where
    each block is a dict of the labels of one signature or encryption example."""
    examples = []
    label = None
    current = None
    for line in open(path, encoding="latin-1"):
        line = line.rstrip("\n")
        heading = re.match(r"# Example (\d+):", line)
        if heading:
            current = {"example": int(heading.group(1)), "fields": {}, "section": None, "items": []}
            examples.append(current)
            label = None
            continue
        if current is None:
            continue
        if line.startswith("# Private key"):
            current["section"] = "private"
        if re.match(r"# [A-Za-z0-9 #.]+:\s*$", line):
            label = line[2:].strip().rstrip(":")
            if label in ("Message to be signed", "Message"):
                current["items"].append({})
            continue
        if re.match(r"^[0-9a-fA-F]{2}( [0-9a-fA-F]{2})*\s*$", line) and label:
            value = bytes.fromhex(line.replace(" ", ""))
            target = current["items"][-1] if current["items"] else (
                current["fields"] if current["section"] == "private" else None)
            if target is not None:
                target[label] = target.get(label, b"") + value
            continue
        label = None
    return examples


def read_cavp(path, last_field):
    """A CAVP .rsp/.txt file: `[section]` headings and `name = value` lines. Returns one dict per
    record, a record ending with `last_field` (Result in SigVer files, S in SigGen files). RSA
    files give n, p and q once per `[mod = …]` section; they are kept as the record's header."""
    records = []
    section = None
    header = {}
    record = {}
    for raw in open(path, encoding="latin-1"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section, header, record = line.strip("[]"), {}, {}
            continue
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if name in ("n", "p", "q") and section.startswith("mod"):
            header[name] = value
            continue
        record[name] = value
        if name == last_field:
            records.append(dict(section=section, header=dict(header), **record))
            record = {}
    return records


def result_kind(result):
    """'P' for a passing CAVP record, 'F<n>' for a failing one of kind n ("F (3 - S changed)")."""
    if result.startswith("P"):
        return "P"
    return "F" + re.search(r"\((\d+)", result).group(1)


# ---------------------------------------------------------------- building the fixture

class Fixture:
    def __init__(self):
        self.keys = {}
        self.rsa_signature = []
        self.rsa_encryption = []
        self.ecdsa_signature = []
        self.bad_keys = []
        self.odd_keys = []

    def rsa_key(self, key_id, n, e, source, d=None, p=None, q=None):
        entry = {"algorithm": "rsa", "public": rsa_public_der(n, e).hex(), "source": source}
        if d is not None:
            entry["private"] = rsa_private_der(n, e, d, p, q).hex()
        previous = self.keys.setdefault(key_id, entry)
        assert previous == entry, key_id
        return key_id

    def ec_key(self, key_id, curve, qx, qy, source, d=None):
        size = CURVES[curve]["field-bytes"]
        point = b"\x04" + qx.to_bytes(size, "big") + qy.to_bytes(size, "big")
        entry = {"algorithm": "ecdsa", "curve": curve, "public": point.hex(),
                 "public-compressed": (bytes([2 + (qy & 1)]) + qx.to_bytes(size, "big")).hex(), "source": source}
        if d is not None:
            entry["private"] = ec_private_der(curve, d, point).hex()
            entry["private-no-parameters"] = ec_private_der(curve, d, point, parameters=False).hex()
            entry["private-no-public-key"] = ec_private_der(curve, d, point, public_key=False).hex()
        previous = self.keys.setdefault(key_id, entry)
        assert previous == entry, key_id
        return key_id

    def json(self, about):
        return {"about": about, "keys": self.keys, "rsa-signature": self.rsa_signature,
                "rsa-encryption": self.rsa_encryption, "ecdsa-signature": self.ecdsa_signature,
                "bad-keys": self.bad_keys, "odd-keys": self.odd_keys}


def add_rsa_labs_signatures(fixture, base):
    path = os.path.join(base, "asymmetric/RSA/pkcs1v15sign-vectors.txt")
    for example in read_rsa_labs(path):
        if example["example"] not in (1, 7, 9, 14, 15):
            continue
        f = example["fields"]
        n, e, d = (int.from_bytes(f[x], "big") for x in ("Modulus", "Public exponent", "Exponent"))
        p, q = int.from_bytes(f["Prime 1"], "big"), int.from_bytes(f["Prime 2"], "big")
        key = fixture.rsa_key(f"rsa-labs-sign-{example['example']}", n, e,
                              f"RSA Laboratories pkcs1v15sign-vectors.txt, Example {example['example']} "
                              f"({n.bit_length()}-bit key)", d, p, q)
        for index, item in enumerate(example["items"][:3], start=1):
            h = digest("sha1", item["Message to be signed"])
            where = f"RSA Laboratories pkcs1v15sign-vectors.txt, PKCS#1 v1.5 Signature Example {example['example']}.{index}"
            fixture.rsa_signature.append({"key": key, "hash": "sha1", "digest": h.hex(),
                                          "signature": item["Signature"].hex(), "result": "valid",
                                          "source": where + " (digest = SHA-1 of the message)"})
            fixture.rsa_signature.append({"key": key, "hash": "no-hash",
                                          "digest": (bytes.fromhex(DIGEST_INFO["sha1"]) + h).hex(),
                                          "signature": item["Signature"].hex(), "result": "valid",
                                          "source": where + ", signed data = SHA-1 DigestInfo ‖ digest (RFC 8017 §9.2 note 1) "
                                                            "for a NO_HASH session"})
            if index == 1:
                fixture.rsa_signature.append({"key": key, "hash": "no-hash", "digest": h.hex(),
                                              "signature": item["Signature"].hex(), "result": "invalid",
                                              "source": where + ", the bare digest to a NO_HASH session (no DigestInfo: "
                                                                "another payload T)"})


def add_rsa_labs_encryption(fixture, base):
    path = os.path.join(base, "asymmetric/RSA/pkcs1v15crypt-vectors.txt")
    for example in read_rsa_labs(path):
        if example["example"] not in (1, 7, 14, 15):
            continue
        f = example["fields"]
        n, e, d = (int.from_bytes(f[x], "big") for x in ("Modulus", "Public exponent", "Exponent"))
        p, q = int.from_bytes(f["Prime 1"], "big"), int.from_bytes(f["Prime 2"], "big")
        key = fixture.rsa_key(f"rsa-labs-crypt-{example['example']}", n, e,
                              f"RSA Laboratories pkcs1v15crypt-vectors.txt, Example {example['example']} "
                              f"({n.bit_length()}-bit key)", d, p, q)
        k = modulus_bytes(n)
        for index, item in enumerate(example["items"][:3], start=1):
            where = f"RSA Laboratories pkcs1v15crypt-vectors.txt, PKCS#1 v1.5 Encryption Example {example['example']}.{index}"
            ciphertext = item["Encryption"]
            fixture.rsa_encryption.append({"key": key, "padding": "pkcs1", "plaintext": item["Message"].hex(),
                                           "ciphertext": ciphertext.hex(), "result": "ok", "source": where})
            em = b"\x00\x02" + item["Seed"] + b"\x00" + item["Message"]
            assert len(em) == k and pow(int.from_bytes(em, "big"), e, n) == int.from_bytes(ciphertext, "big")
            fixture.rsa_encryption.append({"key": key, "padding": "raw", "plaintext": em.hex(), "ciphertext": ciphertext.hex(),
                                           "result": "ok",
                                           "source": where + ": textbook RSA of EM = 0x00 ‖ 0x02 ‖ seed ‖ 0x00 ‖ M "
                                                             "(RFC 8017 §7.2.1 step 2)"})


def add_cavp_rsa(fixture, base):
    """NIST CAVP FIPS 186-3 SigVer PKCS#1 v1.5: per modulus and hash the first passing record and
    the first record of each of the five failure kinds."""
    path = os.path.join(base, "asymmetric/RSA/FIPS_186-2/SigVer15_186-3.rsp")
    taken = {}
    main_keys = {}
    records = read_cavp(path, "Result")
    for record in records:
        if record["Result"].startswith("P"):
            main_keys.setdefault(record["section"], int(record["e"], 16))
    for number, record in enumerate(records, start=1):
        mod = record["section"].split("=")[1].strip()
        hash_name = CAVP_HASH[record["SHAAlg"]]
        kind = result_kind(record["Result"])
        if (mod, hash_name, kind) in taken:
            continue
        taken[(mod, hash_name, kind)] = True
        n, e = int(record["header"]["n"], 16), int(record["e"], 16)
        p, q = int(record["header"]["p"], 16), int(record["header"]["q"], 16)
        source = f"NIST CAVP SigVer15_186-3.rsp [mod = {mod}]"
        if e == main_keys[record["section"]]:
            key = fixture.rsa_key(f"cavp-sigver15-{mod}", n, e, source + " n, p, q, e, d", int(record["d"], 16), p, q)
        else:
            key = fixture.rsa_key(f"cavp-sigver15-{mod}-record-{number}", n, e, source + f" record {number} (changed e)")
        valid = record["Result"].startswith("P")
        fixture.rsa_signature.append({
            "key": key, "hash": hash_name, "digest": digest(hash_name, bytes.fromhex(record["Msg"])).hex(),
            "signature": record["S"], "result": "valid" if valid else "invalid",
            "source": f"{source} SHAAlg = {record['SHAAlg']} record {number}: Result = {record['Result']} "
                      f"(digest = {record['SHAAlg']} of Msg)"})


def add_cavp_ecdsa(fixture, base):
    sigver = os.path.join(base, "asymmetric/ECDSA/FIPS_186-3/SigVer.rsp")
    taken = {}
    by_cavp = {c["cavp"]: name for name, c in CURVES.items()}
    for number, record in enumerate(read_cavp(sigver, "Result"), start=1):
        cavp_curve, cavp_hash = record["section"].split(",")
        if cavp_curve not in by_cavp:
            continue
        curve, hash_name = by_cavp[cavp_curve], CAVP_HASH[cavp_hash]
        kind = result_kind(record["Result"])
        if (curve, hash_name, kind) in taken:
            continue
        taken[(curve, hash_name, kind)] = True
        qx, qy = int(record["Qx"], 16), int(record["Qy"], 16)
        source = f"NIST CAVP FIPS 186-3 ECDSA SigVer.rsp [{record['section']}] record {number}"
        key = fixture.ec_key(f"cavp-ecdsa-sigver-{number}", curve, qx, qy, source + " Qx, Qy")
        result = "valid" if record["Result"].startswith("P") else "invalid"
        if not on_curve(curve, qx, qy):
            result = "invalid-key"
        fixture.ecdsa_signature.append({
            "key": key, "digest": digest(hash_name, bytes.fromhex(record["Msg"])).hex(),
            "signature": ecdsa_signature_der(int(record["R"], 16), int(record["S"], 16)).hex(), "result": result,
            "source": f"{source}: Result = {record['Result']} (digest = {cavp_hash} of Msg, untruncated; "
                      f"signature = DER of R, S)"})

    siggen = os.path.join(base, "asymmetric/ECDSA/FIPS_186-3/SigGen.txt")
    taken = {}
    for number, record in enumerate(read_cavp(siggen, "S"), start=1):
        cavp_curve, cavp_hash = record["section"].split(",")
        if cavp_curve not in by_cavp or (cavp_curve, cavp_hash) in taken:
            continue
        taken[(cavp_curve, cavp_hash)] = True
        curve, hash_name = by_cavp[cavp_curve], CAVP_HASH[cavp_hash]
        source = f"NIST CAVP FIPS 186-3 ECDSA SigGen.txt [{record['section']}] record {number}"
        key = fixture.ec_key(f"cavp-ecdsa-siggen-{curve}-{hash_name}", curve, int(record["Qx"], 16), int(record["Qy"], 16),
                             source + " d, Qx, Qy", d=int(record["d"], 16))
        message = bytes.fromhex(record["Msg"])
        r, s = int(record["R"], 16), int(record["S"], 16)
        h = digest(hash_name, message)
        fixture.ecdsa_signature.append({"key": key, "digest": h.hex(), "signature": ecdsa_signature_der(r, s).hex(),
                                        "result": "valid", "source": f"{source} (digest = {cavp_hash} of Msg)"})
        order = CURVES[curve]["order"]
        if hash_name == "sha512" and curve != "nist-p521":
            # FIPS 186-4 §6.4: only the leftmost bits of the order's length of the digest are used.
            fixture.ecdsa_signature.append({"key": key, "digest": h[:CURVES[curve]["order-bytes"]].hex(),
                                            "signature": ecdsa_signature_der(r, s).hex(), "result": "valid",
                                            "source": f"{source}, digest cut to the order's length (FIPS 186-4 §6.4 "
                                                      f"uses the leftmost bits)"})
        if hash_name != "sha256":
            continue
        derived = f"derived from {source}"
        good = ecdsa_signature_der(r, s)
        mutations = [
            (ecdsa_signature_der(r, order - s), "valid", "s replaced by n − s (FIPS 186-4 §6.4.2 accepts any s in [1, n−1])"),
            (ecdsa_signature_der(r, 0), "invalid", "s = 0"),
            (ecdsa_signature_der(0, s), "invalid", "r = 0"),
            (ecdsa_signature_der(order + r, s), "invalid", "r + n in place of r (r must be below n)"),
            (ecdsa_signature_der(r, order), "invalid", "s = n"),
            (ecdsa_signature_der(s, r), "invalid", "r and s swapped"),
            (b"\x30\x81" + good[1:], "invalid", "SEQUENCE length in long form (BER, not DER)")
            if good[1] < 0x80 else (good[:1] + b"\x82\x00" + good[2:], "invalid", "SEQUENCE length padded (BER, not DER)"),
            (der(0x30, der(0x02, b"\x00" + der_integer(r)[2:]) + der_integer(s)), "invalid",
             "r with a superfluous leading zero byte (not DER)"),
            (good + b"\x00", "invalid", "a byte after the SEQUENCE"),
            (good[:-1], "invalid", "last byte cut off"),
            (b"", "invalid", "empty signature"),
            (r.to_bytes(CURVES[curve]["order-bytes"], "big") + s.to_bytes(CURVES[curve]["order-bytes"], "big"), "invalid",
             "r ‖ s without DER (the IEEE P1363 form)"),
        ]
        for signature, result, what in mutations:
            fixture.ecdsa_signature.append({"key": key, "digest": h.hex(), "signature": signature.hex(), "result": result,
                                            "source": f"{derived}: {what}"})
        for other in ("sha1", "sha384"):
            fixture.ecdsa_signature.append({"key": key, "digest": digest(other, message).hex(), "signature": good.hex(),
                                            "result": "invalid",
                                            "source": f"{derived}: wrong hash, the {other.upper()} digest of Msg for a "
                                                      f"SHA-256 signature"})


def on_curve(curve, x, y):
    """y² = x³ − 3x + b over the curve's prime field (FIPS 186-4 D.1.2), checked by the oracle
    package; CAVP's "Q changed" records may carry a point that is on no curve."""
    from cryptography.hazmat.primitives.asymmetric import ec
    try:
        ec.EllipticCurvePublicNumbers(x, y, oracle_curve(curve)).public_key()
        return True
    except ValueError:
        return False


def oracle_curve(curve):
    from cryptography.hazmat.primitives.asymmetric import ec
    return {"nist-p192": ec.SECP192R1, "nist-p224": ec.SECP224R1, "nist-p256": ec.SECP256R1,
            "nist-p384": ec.SECP384R1, "nist-p521": ec.SECP521R1}[curve]()


def oracle_hash(name):
    from cryptography.hazmat.primitives import hashes
    return {"md5": hashes.MD5, "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
            "sha384": hashes.SHA384, "sha512": hashes.SHA512}[name]()


def add_rsa_edges(fixture):
    """Vectors this script computes with Python integers (no OpenSSL) on the CAVP 2048-bit key:
    hashes with no published PKCS#1 v1.5 vector (MD2, MD4, MD5, NO_HASH), malformed signatures,
    wrong digest lengths, and textbook RSA at the edges of the input range."""
    key = fixture.keys["cavp-sigver15-2048"]
    n, e, d = rsa_numbers(key)
    k = modulus_bytes(n)
    where = "computed by scripts/akcipher-vectors.py with Python integers on the key of NIST CAVP SigVer15_186-3.rsp [mod = 2048]"
    # Digests of "abc" from the test suites of RFC 1319 (MD2), RFC 1320 (MD4), RFC 1321 (MD5).
    abc = {"md2": "da853b0d3f88d99b30283a69e6ded6bb", "md4": "a448017aaf21d8525fc10ae87aa6729d",
           "md5": "900150983cd24fb0d6963f7d28e17f72"}
    assert abc["md5"] == hashlib.md5(b"abc").hexdigest()
    signatures = {}
    rfc = {"md2": "RFC 1319", "md4": "RFC 1320", "md5": "RFC 1321"}
    for name, value in list(abc.items()) + [("no-hash", bytes(range(1, 37)).hex())]:
        em = emsa_pkcs1_v15(name, bytes.fromhex(value), k)
        signature = pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")
        signatures[name] = signature
        if name == "no-hash":
            what = "36 arbitrary bytes as the payload T, no DigestInfo (NO_HASH)"
        else:
            info = "RFC 2313 §10.1.2" if name == "md4" else "RFC 8017 §9.2 note 1"
            what = f"the {name.upper()} digest of 'abc' from the {rfc[name]} test suite, DigestInfo of {info}"
        fixture.rsa_signature.append({"key": "cavp-sigver15-2048", "hash": name, "digest": value,
                                      "signature": signature.hex(), "result": "valid",
                                      "source": f"{where}: EMSA-PKCS1-v1_5 (RFC 8017 §9.2) over {what}"})
    fixture.rsa_signature.append({"key": "cavp-sigver15-2048", "hash": "md4", "digest": abc["md5"],
                                  "signature": signatures["md5"].hex(), "result": "invalid",
                                  "source": f"{where}: wrong hash, an MD5 signature checked as MD4 (same digest length, "
                                            f"another DigestInfo)"})
    good = next(v for v in fixture.rsa_signature if v["key"] == "cavp-sigver15-2048" and v["hash"] == "sha256"
                and v["result"] == "valid")
    signature = bytes.fromhex(good["signature"])
    mutations = [
        (signature[:-1] + bytes([signature[-1] ^ 1]), "invalid", "last bit of the signature flipped"),
        (signature[1:], "invalid", "first byte of the signature dropped (k − 1 bytes)"),
        (b"\x00" + signature, "invalid", "a zero byte before the signature (k + 1 bytes)"),
        (n.to_bytes(k, "big"), "invalid", "signature = n (not below the modulus)"),
        (bytes(k), "invalid", "signature = 0"),
        (b"", "invalid", "empty signature"),
    ]
    for value, result, what in mutations:
        fixture.rsa_signature.append({"key": "cavp-sigver15-2048", "hash": "sha256", "digest": good["digest"],
                                      "signature": value.hex(), "result": result, "source": f"{where}: {what}, from {good['source']}"})
    for length, what in ((31, "a 31-byte digest"), (33, "a 33-byte digest"), (0, "an empty digest")):
        fixture.rsa_signature.append({"key": "cavp-sigver15-2048", "hash": "sha256",
                                      "digest": (bytes.fromhex(good["digest"]) * 2)[:length].hex(),
                                      "signature": good["signature"], "result": "invalid-length",
                                      "source": f"{where}: {what} for SHA-256 (the signed data must be the digest)"})
    fixture.rsa_signature.append({"key": "cavp-sigver15-2048", "hash": "no-hash", "digest": bytes(k - 10).hex(),
                                  "signature": good["signature"], "result": "invalid-length",
                                  "source": f"{where}: NO_HASH signed data of k − 10 bytes (EMSA-PKCS1-v1_5 fits k − 11)"})

    for key_id in ("cavp-sigver15-2048", "cavp-sigver15-1024"):
        n, e, d = rsa_numbers(fixture.keys[key_id])
        k = modulus_bytes(n)
        where = (f"computed by scripts/akcipher-vectors.py with Python integers on the key of NIST CAVP SigVer15_186-3.rsp "
                 f"[mod = {n.bit_length()}]")
        for plaintext, what in ((bytes.fromhex("54859b342c49ea2a"), "an 8-byte input (as Linux's testmgr RSA vectors pass)"),
                                (b"", "an empty input (the integer 0)"),
                                ((n - 1).to_bytes(k, "big"), "n − 1, the largest input")):
            ciphertext = pow(int.from_bytes(plaintext, "big"), e, n).to_bytes(k, "big")
            fixture.rsa_encryption.append({"key": key_id, "padding": "raw", "plaintext": plaintext.hex(),
                                           "ciphertext": ciphertext.hex(), "result": "ok",
                                           "source": f"{where}: textbook RSA of {what}; the input is left-padded to k bytes"})
        for plaintext, result, what in ((n.to_bytes(k, "big"), "invalid-input", "n itself"),
                                        (b"\xff" * k, "invalid-input", "k bytes of 0xff (above n)"),
                                        (b"\x00" + b"\x01" * k, "invalid-length", "k + 1 bytes")):
            fixture.rsa_encryption.append({"key": key_id, "padding": "raw", "plaintext": plaintext.hex(), "ciphertext": "",
                                           "result": result, "source": f"{where}: textbook RSA input {what}"})
        fixture.rsa_encryption.append({"key": key_id, "padding": "pkcs1", "plaintext": bytes(k - 10).hex(), "ciphertext": "",
                                       "result": "invalid-length",
                                       "source": f"{where}: a PKCS#1 v1.5 message of k − 10 bytes (RFC 8017 §7.2.1 allows k − 11)"})


def add_linux_testmgr_style(fixture):
    """Linux's crypto/testmgr.h RSA private keys give p, q, dP, dQ and qInv as INTEGER 0 (its
    boot-time self-test sends them through virtio-crypto; QEMU accepts them). The same form
    here, of the CAVP 1024-bit key, with the CAVP signatures and the textbook vectors of it."""
    source = fixture.keys["cavp-sigver15-1024"]
    n, e, d = rsa_numbers(source)
    key_id = "cavp-sigver15-1024-without-crt"
    fixture.keys[key_id] = {"algorithm": "rsa", "public": source["public"],
                            "private": der(0x30, b"".join(der_integer(x) for x in (0, n, e, d, 0, 0, 0, 0, 0))).hex(),
                            "source": f"{source['source']}, written with p, q, dP, dQ, qInv = 0 as Linux's "
                                      f"crypto/testmgr.h RSA keys are"}
    for vector in [v for v in fixture.rsa_signature if v["key"] == "cavp-sigver15-1024" and v["result"] == "valid"]:
        fixture.rsa_signature.append(dict(vector, key=key_id, source=vector["source"] + ", key without CRT values"))
    for vector in [v for v in fixture.rsa_encryption if v["key"] == "cavp-sigver15-1024"]:
        fixture.rsa_encryption.append(dict(vector, key=key_id, source=vector["source"] + ", key without CRT values"))


def add_odd_keys(fixture):
    """Well-formed DER that describes a degenerate key. The spec gives no rule for these, and
    OpenSSL may accept some; the engine must answer each use with a typed error or a result,
    never crash (result "no-crash")."""
    rsa = fixture.keys["cavp-sigver15-1024"]
    n, e, d = rsa_numbers(rsa)
    other_n, _, _ = rsa_numbers(fixture.keys["cavp-sigver15-2048"])
    of = f"the key of {rsa['source']}"
    cases = [
        ("public", rsa_public_der(15, 3), "RSAPublicKey n = 15, e = 3"),
        ("public", rsa_public_der(1, 3), "RSAPublicKey n = 1"),
        ("public", rsa_public_der(1 << 1024, e), "RSAPublicKey with an even n = 2^1024"),
        ("public", rsa_public_der(n, 1), f"n of {of} with e = 1"),
        ("public", rsa_public_der(n, 0), f"n of {of} with e = 0"),
        ("public", rsa_public_der(n, n), f"n of {of} with e = n"),
        ("private", der(0x30, b"".join(der_integer(x) for x in (0, n, e, 0, 0, 0, 0, 0, 0))),
         f"RSAPrivateKey of n, e of {of} with d and every CRT value 0"),
        ("private", der(0x30, b"".join(der_integer(x) for x in (0, n, e, d, 3, 5, 1, 1, 1))),
         f"RSAPrivateKey of n, e, d of {of} with primes 3 and 5 that do not divide n"),
        ("private", der(0x30, b"".join(der_integer(x) for x in (0, other_n, e, d, 3, 5, 1, 1, 1))),
         f"RSAPrivateKey with the modulus of another key and the rest of {of}"),
    ]
    for key_type, key, what in cases:
        fixture.odd_keys.append({"algorithm": "rsa", "key-type": key_type, "key": key.hex(), "result": "no-crash",
                                 "source": f"constructed by scripts/akcipher-vectors.py: {what}"})


def add_bad_keys(fixture):
    """Keys in encodings other than the spec's, or describing no valid key, each built here from
    a published key; every one must be refused at session creation (ERR)."""
    def bad(algorithm, key_type, key, what, curve=None):
        entry = {"algorithm": algorithm, "key-type": key_type, "key": key.hex(), "result": "invalid-key",
                 "source": f"constructed by scripts/akcipher-vectors.py: {what}"}
        if curve:
            entry["curve"] = curve
        fixture.bad_keys.append(entry)

    rsa = fixture.keys["rsa-labs-sign-1"]
    private, public = bytes.fromhex(rsa["private"]), bytes.fromhex(rsa["public"])
    rsa_algorithm = der(0x30, der_oid("1.2.840.113549.1.1.1") + b"\x05\x00")
    of = f"the key of {rsa['source']}"
    bad("rsa", "private", der(0x30, der_integer(0) + rsa_algorithm + der(0x04, private)),
        f"PKCS#8 PrivateKeyInfo (RFC 5208) around the RSAPrivateKey of {of}")
    bad("rsa", "public", der(0x30, rsa_algorithm + der(0x03, b"\x00" + public)),
        f"SubjectPublicKeyInfo (RFC 5280) around the RSAPublicKey of {of}")
    bad("rsa", "private", b"\x30\x83" + len(private[4:]).to_bytes(3, "big") + private[4:],
        f"the RSAPrivateKey of {of} with its SEQUENCE length in a longer form than needed (BER, not DER)")
    bad("rsa", "private", public, f"the RSAPublicKey of {of} given as a private key")
    bad("rsa", "public", private, f"the RSAPrivateKey of {of} given as a public key")
    n, e, _ = rsa_numbers(rsa)
    bad("rsa", "public", rsa_public_der(0, e), "an RSAPublicKey with modulus 0")
    bad("rsa", "private", der(0x30, der_integer(0) + der_integer(n) + der_integer(e)),
        f"an RSAPrivateKey cut after publicExponent (n and e of {of})")

    ec = fixture.keys["cavp-ecdsa-siggen-nist-p256-sha256"]
    other = fixture.keys["cavp-ecdsa-siggen-nist-p384-sha256"]
    point = bytes.fromhex(ec["public"])
    of = f"the key of {ec['source']}"
    d = int.from_bytes(DERScalar.of(ec["private"]), "big")
    order = CURVES["nist-p256"]["order"]
    ec_algorithm = der(0x30, der_oid("1.2.840.10045.2.1") + der_oid(CURVES["nist-p256"]["oid"]))
    p256 = "nist-p256"
    bad("ecdsa", "private", der(0x30, der_integer(0) + ec_algorithm + der(0x04, bytes.fromhex(ec["private"]))),
        f"PKCS#8 PrivateKeyInfo around the ECPrivateKey of {of}", p256)
    bad("ecdsa", "public", der(0x30, ec_algorithm + der(0x03, b"\x00" + point)),
        f"SubjectPublicKeyInfo around the point of {of}", p256)
    bad("ecdsa", "public", der(0x04, point), f"the point of {of} as a DER OCTET STRING, header kept", p256)
    bad("ecdsa", "private", ec_private_der("nist-p256", d, point)[:-1], f"the ECPrivateKey of {of} cut by one byte", p256)
    bad("ecdsa", "private", bytes.fromhex(other["private"]),
        f"a P-384 ECPrivateKey ({other['source']}) for a P-256 session: curve mismatch", p256)
    bad("ecdsa", "public", bytes.fromhex(other["public"]),
        f"a P-384 point ({other['source']}) for a P-256 session: curve mismatch", p256)
    bad("ecdsa", "private", der(0x30, der_integer(1) + der(0x04, d.to_bytes(32, "big")) + der(0xA0, der_oid(CURVES["nist-p384"]["oid"]))),
        f"the P-256 scalar of {of} with parameters naming P-384, for a P-256 session", p256)
    bad("ecdsa", "private", der(0x30, der_integer(2) + der(0x04, d.to_bytes(32, "big")) + der(0xA0, der_oid(CURVES[p256]["oid"]))),
        f"the ECPrivateKey of {of} with version 2 (RFC 5915 has only 1)", p256)
    bad("ecdsa", "private", der(0x30, der_integer(1) + der(0x04, d.to_bytes(32, "big")) + der(0xA0, der(0x30, der_integer(1)))),
        f"the scalar of {of} with parameters that are not a namedCurve OID (specified or custom curves are refused)", p256)
    bad("ecdsa", "private", ec_private_der(p256, 0, point, public_key=False), "an ECPrivateKey with scalar 0", p256)
    bad("ecdsa", "private", ec_private_der(p256, order, point, public_key=False), "an ECPrivateKey with scalar n", p256)
    fixture_other = fixture.keys["cavp-ecdsa-siggen-nist-p256-sha1"]
    bad("ecdsa", "private", ec_private_der(p256, d, bytes.fromhex(fixture_other["public"])),
        f"the scalar of {of} with the public key of {fixture_other['source']}: a pair that does not belong together", p256)
    bad("ecdsa", "private", bytes.fromhex(rsa["private"]), f"an RSAPrivateKey ({rsa['source']}) for an ECDSA session", p256)
    bad("rsa", "private", bytes.fromhex(ec["private"]), f"an ECPrivateKey ({of}) for an RSA session")
    bad("rsa", "public", point, f"an EC point ({of}) for an RSA session")
    size = CURVES[p256]["field-bytes"]
    x, y = int.from_bytes(point[1:1 + size], "big"), int.from_bytes(point[1 + size:], "big")
    bad("ecdsa", "public", bytes([6 + (y & 1)]) + point[1:], f"the point of {of} in the X9.62 hybrid form (not SEC 1)", p256)
    bad("ecdsa", "public", b"\x00", "the point at infinity (SEC 1 octet 00)", p256)
    bad("ecdsa", "public", point[:-1] + bytes([point[-1] ^ 1]), f"the point of {of} with y changed: off the curve", p256)
    bad("ecdsa", "public", point[:1 + size], f"0x04 and only the x of {of}", p256)
    bad("ecdsa", "public", bytes([2]) + point[1:], f"a 0x02 (compressed) prefix on the uncompressed point of {of}", p256)
    bad("ecdsa", "public", b"", "an empty key", p256)
    bad("rsa", "public", b"", "an empty key")
    garbage = bytes((i * 73 + 41) % 256 for i in range(300))
    bad("rsa", "private", garbage, "300 bytes of a fixed pseudo-random pattern")
    bad("ecdsa", "private", garbage[:121], "121 bytes of a fixed pseudo-random pattern", p256)


class DERScalar:
    @staticmethod
    def of(ec_private_hex):
        """The privateKey octets of an ECPrivateKey this script wrote (version, then the octet string)."""
        body = bytes.fromhex(ec_private_hex)
        start = 2 if body[1] < 0x80 else 2 + (body[1] & 0x7F)
        assert body[start:start + 3] == b"\x02\x01\x01" and body[start + 3] == 0x04
        length = body[start + 4]
        return body[start + 5:start + 5 + length]


def rsa_numbers(key):
    from cryptography.hazmat.primitives.serialization import load_der_private_key
    numbers = load_der_private_key(bytes.fromhex(key["private"]), None).private_numbers()
    return numbers.public_numbers.n, numbers.public_numbers.e, numbers.d


def add_oracle(fixture):
    """Values made by the `cryptography` package on published keys: PKCS#1 v1.5 ciphertexts
    (random padding) and signatures, ECDSA signatures (random k). They check the engine's
    decryption and verification against a second implementation."""
    import cryptography
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
    from cryptography.hazmat.primitives.serialization import load_der_private_key
    made = f"made by python cryptography {cryptography.__version__}"
    for key_id in ("cavp-sigver15-1024", "cavp-sigver15-2048", "cavp-sigver15-3072", "cavp-sigver15-4096",
                   "rsa-labs-sign-7"):
        private = load_der_private_key(bytes.fromhex(fixture.keys[key_id]["private"]), None)
        k = private.key_size // 8 + (1 if private.key_size % 8 else 0)
        for message in (b"\x42", bytes(range(256))[: k - 11]):
            ciphertext = private.public_key().encrypt(message, padding.PKCS1v15())
            fixture.rsa_encryption.append({"key": key_id, "padding": "pkcs1", "plaintext": message.hex(),
                                           "ciphertext": ciphertext.hex(), "result": "ok",
                                           "source": f"{made}: RSAES-PKCS1-v1_5 encryption of {len(message)} bytes "
                                                     f"with the key {fixture.keys[key_id]['source']}"})
        for name in ("md5", "sha224", "sha384"):
            h = digest(name, b"virtio-crypto akcipher oracle")
            signature = private.sign(h, padding.PKCS1v15(), utils.Prehashed(oracle_hash(name)))
            fixture.rsa_signature.append({"key": key_id, "hash": name, "digest": h.hex(), "signature": signature.hex(),
                                          "result": "valid",
                                          "source": f"{made}: RSASSA-PKCS1-v1_5 signature (Prehashed {name.upper()}) with "
                                                    f"the key {fixture.keys[key_id]['source']}"})
    for curve in CURVES:
        key_id = f"cavp-ecdsa-siggen-{curve}-sha256"
        entry = fixture.keys[key_id]
        private = load_der_private_key(bytes.fromhex(entry["private"]), None)
        for name in ("sha1", "sha224", "sha256", "sha384", "sha512"):
            h = digest(name, b"virtio-crypto akcipher oracle")
            signature = private.sign(h, ec.ECDSA(utils.Prehashed(oracle_hash(name))))
            fixture.ecdsa_signature.append({"key": key_id, "digest": h.hex(), "signature": signature.hex(),
                                            "result": "valid",
                                            "source": f"{made}: ECDSA signature (Prehashed {name.upper()}) with the key "
                                                      f"{entry['source']}"})


def cross_check(fixture):
    """Every key this script encoded must load in the oracle package as the same key, so a
    failure in the engine is the engine's and not the converter's."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_private_key, load_der_public_key
    for key_id, entry in fixture.keys.items():
        if entry["algorithm"] == "rsa":
            public = load_der_public_key(bytes.fromhex(entry["public"]))
            if key_id.endswith("-without-crt"):
                continue  # the package refuses zero CRT values; the key's vectors check it instead
            if "private" in entry:
                private = load_der_private_key(bytes.fromhex(entry["private"]), None)
                assert private.public_key().public_numbers() == public.public_numbers(), key_id
        else:
            curve = oracle_curve(entry["curve"])
            try:
                public = ec.EllipticCurvePublicKey.from_encoded_point(curve, bytes.fromhex(entry["public"]))
                compressed = ec.EllipticCurvePublicKey.from_encoded_point(curve, bytes.fromhex(entry["public-compressed"]))
                assert public.public_numbers() == compressed.public_numbers(), key_id
            except ValueError:
                continue  # a CAVP "Q changed" point that is on no curve; the vector expects invalid-key
            for variant in ("private", "private-no-public-key"):
                if variant in entry:
                    private = load_der_private_key(bytes.fromhex(entry[variant]), None)
                    assert private.public_key().public_numbers() == public.public_numbers(), (key_id, variant)


def write_compact(document, out):
    """JSON with one key or vector per line: small, and a regenerated file diffs line by line."""
    lines = ["{"]
    items = list(document.items())
    for index, (name, value) in enumerate(items):
        end = "," if index < len(items) - 1 else ""
        if isinstance(value, dict):
            members = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items()]
            lines.append(f" {json.dumps(name)}: {{\n" + ",\n".join(members) + f"\n }}{end}")
        elif isinstance(value, list):
            members = [f"  {json.dumps(v, ensure_ascii=False)}" for v in value]
            lines.append(f" {json.dumps(name)}: [\n" + ",\n".join(members) + f"\n ]{end}")
        else:
            lines.append(f" {json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}{end}")
    lines.append("}")
    with open(out, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def generate(out):
    try:
        import cryptography_vectors
    except ImportError:
        sys.exit("generate needs the published vectors: pip install cryptography-vectors cryptography")
    base = vectors_dir()
    fixture = Fixture()
    add_rsa_labs_signatures(fixture, base)
    add_rsa_labs_encryption(fixture, base)
    add_cavp_rsa(fixture, base)
    add_cavp_ecdsa(fixture, base)
    add_rsa_edges(fixture)
    add_oracle(fixture)
    add_linux_testmgr_style(fixture)
    add_bad_keys(fixture)
    add_odd_keys(fixture)
    cross_check(fixture)
    about = (f"AKCIPHER known answers, written by `python3 scripts/akcipher-vectors.py generate` from "
             f"cryptography-vectors {cryptography_vectors.__version__} (NIST CAVP FIPS 186-3 SigVer15 and ECDSA "
             f"SigVer/SigGen, RSA Laboratories PKCS#1 v1.5 examples) plus values the script computes or the "
             f"python cryptography package makes; each vector's source says which. Keys are in the Virtio 1.4 "
             f"encodings: RSA DER RSAPublicKey/RSAPrivateKey, ECDSA the bare SEC 1 point (uncompressed and "
             f"compressed) and DER ECPrivateKey (with and without its optional fields). 'digest' is the signed "
             f"data the driver passes (src_data of SIGN, the signed data of VERIFY). result: valid | invalid "
             f"(VERIFY fails: KEY_REJECTED) | invalid-length | invalid-input | invalid-key (ERR) | ok.")
    write_compact(fixture.json(about), out)
    counts = {name: len(getattr(fixture, name.replace("-", "_")))
              for name in ("rsa-signature", "rsa-encryption", "ecdsa-signature", "bad-keys", "odd-keys")}
    print(f"wrote {out}: {len(fixture.keys)} keys, {counts}", file=sys.stderr)


# ---------------------------------------------------------------- the oracle

def oracle():
    """Answers the differential test: which engine-made values another implementation accepts.
    Request: {"rsa-signature": [{public, hash, digest, signature}], "rsa-pkcs1-ciphertext":
    [{private, ciphertext}], "rsa-raw": [{public, plaintext, ciphertext}], "ecdsa-signature":
    [{curve, public, digest, signature}]}; answer: the same keys with a list of results."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
    from cryptography.hazmat.primitives.serialization import load_der_private_key, load_der_public_key
    request = json.load(sys.stdin)
    answer = {"rsa-signature": [], "rsa-pkcs1-ciphertext": [], "rsa-raw": [], "ecdsa-signature": []}
    for item in request.get("rsa-signature", []):
        public = load_der_public_key(bytes.fromhex(item["public"]))
        numbers = public.public_numbers()
        k = modulus_bytes(numbers.n)
        signature = bytes.fromhex(item["signature"])
        h = bytes.fromhex(item["digest"])
        # Python integers: s^e mod n must be the EMSA-PKCS1-v1_5 encoding built from RFC 8017 here.
        by_integers = len(signature) == k and pow(int.from_bytes(signature, "big"), numbers.e, numbers.n) == \
            int.from_bytes(emsa_pkcs1_v15(item["hash"], h, k), "big")
        by_package = None
        if item["hash"] in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512"):
            try:
                public.verify(signature, h, padding.PKCS1v15(), utils.Prehashed(oracle_hash(item["hash"])))
                by_package = True
            except InvalidSignature:
                by_package = False
        answer["rsa-signature"].append({"integers": by_integers, "package": by_package})
    for item in request.get("rsa-pkcs1-ciphertext", []):
        private = load_der_private_key(bytes.fromhex(item["private"]), None)
        answer["rsa-pkcs1-ciphertext"].append(private.decrypt(bytes.fromhex(item["ciphertext"]), padding.PKCS1v15()).hex())
    for item in request.get("rsa-raw", []):
        numbers = load_der_public_key(bytes.fromhex(item["public"])).public_numbers()
        k = modulus_bytes(numbers.n)
        expected = pow(int.from_bytes(bytes.fromhex(item["plaintext"]), "big"), numbers.e, numbers.n).to_bytes(k, "big")
        answer["rsa-raw"].append(expected.hex() == item["ciphertext"])
    for item in request.get("ecdsa-signature", []):
        curve = oracle_curve(item["curve"])
        public = ec.EllipticCurvePublicKey.from_encoded_point(curve, bytes.fromhex(item["public"]))
        h = bytes.fromhex(item["digest"])
        # Prehashed needs a hash of the digest's length; the value is what ECDSA uses.
        name = {20: "sha1", 28: "sha224", 32: "sha256", 48: "sha384", 64: "sha512"}[len(h)]
        try:
            public.verify(bytes.fromhex(item["signature"]), h, ec.ECDSA(utils.Prehashed(oracle_hash(name))))
            answer["ecdsa-signature"].append(True)
        except InvalidSignature:
            answer["ecdsa-signature"].append(False)
    json.dump(answer, sys.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("generate", help="write the fixture from cryptography-vectors")
    here = os.path.dirname(os.path.abspath(__file__))
    make.add_argument("--out", default=os.path.join(here, "..", "Tests", "VirtioCryptoEnginesTests", "AkcipherVectors.json"))
    commands.add_parser("oracle", help="check engine results read from stdin")
    arguments = parser.parse_args()
    if arguments.command == "generate":
        generate(os.path.normpath(arguments.out))
    else:
        oracle()


if __name__ == "__main__":
    main()
