#!/usr/bin/env python3
"""The labeler's baseline: what issuing N labels costs in Python with the libraries an atproto
labeler in Python uses (libipld for DAG-CBOR, `cryptography` for ECDSA P-256 with a low S, as the
atproto SDK's crypto does), the same label shape BotHost issues. Prints labels/s.

    python3 bench/label_sign_baseline.py N
"""
import sys
import time

import libipld
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

N_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def main():
    count = int(sys.argv[1])
    key = ec.generate_private_key(ec.SECP256R1())
    start = time.perf_counter()
    out = []
    for i in range(count):
        label = {"ver": 1, "src": "did:plc:bothostbot0000000000000000", "uri": f"did:plc:user{i:021d}",
                 "val": "level-two", "cts": "2026-12-04T18:00:00.000Z"}
        r, s = decode_dss_signature(key.sign(libipld.encode_dag_cbor(label), ec.ECDSA(hashes.SHA256())))
        if s > N_ORDER // 2:
            s = N_ORDER - s
        label["sig"] = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        out.append(label)
    elapsed = time.perf_counter() - start
    print(f"python-sign labels={count} seconds={elapsed:.3f} labels_per_s={count / elapsed:.0f}")


if __name__ == "__main__":
    main()
