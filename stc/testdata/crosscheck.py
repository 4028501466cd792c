#!/usr/bin/env python3
"""Independent check of stc's known-answer vectors (testdata/vectors.md).

Recomputes every output from the inputs with Python's `cryptography`
package and hashlib, sharing no code with the Go implementation:

    python3 stc/testdata/crosscheck.py [path/to/file.md ...]

Exits non-zero on any mismatch. Not run by `go test` (it needs Python).
"""
import hashlib
import hmac
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

MARKER = "# stc key schedule vectors"


def hkdf_extract(salt, ikm):
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def label(s):
    return b"stt/1 " + s.encode()


def blocks(text):
    out, cur, inside, first = [], None, False, False
    for line in text.splitlines():
        line = line.strip()
        if not inside and line == "```vectors":
            inside, first, cur = True, True, None
        elif inside and line == "```":
            inside = False
            if cur is not None:
                out.append(cur)
        elif inside and first:
            first = False
            if line == MARKER:
                cur = {}
        elif inside and cur is not None and line and not line.startswith("#"):
            k, v = line.split("=", 1)
            cur[k.strip()] = v.strip()
    return out


SUITES = [("aes256gcm", 32, AESGCM), ("chacha20poly1305", 32, ChaCha20Poly1305), ("aes128gcm", 16, AESGCM)]


def compute(v):
    h = bytes.fromhex
    out = {}
    out["psk"] = hkdf_expand(hkdf_extract(None, h(v["shared_seed"])), label("stt psk"), 32)
    priv = hkdf_expand(hkdf_extract(None, h(v["node_seed"])), label("stt node static"), 32)
    out["node_static_private"] = priv
    pub = X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    out["node_static_public"] = pub
    out["node_id"] = hashlib.sha3_256(b"stt/1 node id" + pub).digest()
    ts = h(v["traffic_secret"])
    nxt = hkdf_expand(ts, label("stt traffic upd"), 32)
    out["traffic_secret_next"] = nxt
    hdr, pt, pn = h(v["packet_header"]), h(v["packet_plaintext"]), int(v["packet_number"])
    ss = h(v["stream_secret"])
    sess, sid, seq = int(v["stream_session_id"]), int(v["stream_id"]), int(v["stream_seq"])
    ids = struct.pack(">QQ", sess, sid)

    def nonce(iv, n):
        return iv[:4] + (int.from_bytes(iv[4:], "big") ^ n).to_bytes(8, "big")

    for name, klen, cls in SUITES:
        for prefix, secret in (("", ts), ("next_", nxt)):
            key = hkdf_expand(secret, label("stt key"), klen)
            iv = hkdf_expand(secret, label("stt iv"), 12)
            if not prefix:
                out[name + "_key"], out[name + "_iv"] = key, iv
            out[name + "_" + prefix + "packet"] = hdr + cls(key).encrypt(nonce(iv, pn), pt, hdr)
        skey = hkdf_expand(ss, label("stt stream key") + ids, klen)
        siv = hkdf_expand(ss, label("stt stream iv") + ids, 12)
        out[name + "_stream_key"], out[name + "_stream_iv"] = skey, siv
        out[name + "_stream_segment"] = cls(skey).encrypt(
            nonce(siv, seq), h(v["stream_plaintext"]), ids + struct.pack(">Q", seq))
    return out


def main(paths):
    bad = checked = 0
    for path in paths:
        for b in blocks(open(path, encoding="utf-8").read()):
            for k, val in compute(b).items():
                checked += 1
                if b.get(k) != val.hex():
                    bad += 1
                    print(f"{path}: {k}: file {b.get(k)} python {val.hex()}")
    print(f"{checked} values checked, {bad} mismatches")
    return 1 if bad or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or [__file__.rsplit("/", 1)[0] + "/vectors.md"]))
