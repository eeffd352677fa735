#!/usr/bin/env python3
"""Checks BotHost's signed labels with an implementation nobody here wrote: the atproto SDK
(PyPI `atproto`) verifies each signature against the labeler's did:key, and libipld encodes
the unsigned label as DAG-CBOR, which must equal BotHost's bytes.

    python3 Tests/interop/verify_labels.py LABELS.jsonl

Each line: {"did_key": ..., "label": {...without sig...}, "cbor_hex": ..., "sig_b64": ...}.
Ends with 'labels: N passed, N failed'.
"""
import base64
import json
import sys

import libipld
from atproto_crypto.verify import verify_signature


def main():
    passed = failed = 0
    with open(sys.argv[1]) as f:
        for number, line in enumerate(f, 1):
            item = json.loads(line)
            label = item["label"]
            ours = bytes.fromhex(item["cbor_hex"])
            theirs = libipld.encode_dag_cbor(label)
            sig = base64.b64decode(item["sig_b64"])
            problems = []
            if theirs != ours:
                problems.append(f"DAG-CBOR differs: ours {ours.hex()} libipld {theirs.hex()}")
            if len(sig) != 64:
                problems.append(f"signature is {len(sig)} bytes")
            elif not verify_signature(item["did_key"], theirs, sig):
                problems.append("signature does not verify")
            # And the decoded bytes are the label again.
            if libipld.decode_dag_cbor(ours) != label:
                problems.append("DAG-CBOR does not decode to the label")
            if problems:
                failed += 1
                print(f"FAIL line {number} ({label.get('val')!r}): " + "; ".join(problems))
            else:
                passed += 1
    print(f"labels: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
