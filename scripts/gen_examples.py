#!/usr/bin/env python3
"""Write the example files README.md's first command scans.

Benign files come from the real producers; malicious ones are assembled from
raw pickle opcodes with a harmless payload (they only print a token). Nothing
here is ever unpickled.

Usage: gen_examples.py [OUT_DIR]   (default examples/)
"""

import os
import pickle
import sys

PAYLOAD = b"echo AIRLOCK-DEMO-PAYLOAD"


def short_str(s: bytes) -> bytes:
    return b"\x8c" + bytes([len(s)]) + s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "examples"
    pk = os.path.join(out, "pickles")
    os.makedirs(pk, exist_ok=True)
    files = {
        # Plain data, as a training script might pickle its config and metrics.
        "benign_config.pkl": pickle.dumps(
            {"lr": 3e-4, "layers": [64, 64, 10], "name": "mlp", "seed": 1234, "tags": {"demo"}}, protocol=4
        ),
        # STACK_GLOBAL whose operands come from the memo, with a decoy string
        # pushed and popped: scanners that read operands off the opcode list
        # see "None.system".
        "memo_trick.pkl": b"\x80\x04" + short_str(b"os") + b"\x94" + short_str(b"None") + b"\x940h\x00"
        + short_str(b"system") + b"\x93" + short_str(PAYLOAD) + b"\x85R.",
        # Protocol 0 INST: the class is named inline and called with the
        # items above the mark.
        "inst_protocol0.pkl": b"(S'" + PAYLOAD + b"'\nios\nsystem\n.",
        # The payload runs, then an invalid opcode: some scanners drop every
        # finding when the stream does not parse to the end.
        "payload_then_garbage.pkl": b"\x80\x02cos\nsystem\nX" + len(PAYLOAD).to_bytes(4, "little") + PAYLOAD
        + b"\x85R\xff\xff",
    }
    for name, data in files.items():
        with open(os.path.join(pk, name), "wb") as f:
            f.write(data)
        print(os.path.join(pk, name), len(data), "bytes")


if __name__ == "__main__":
    main()
