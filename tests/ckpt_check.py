#!/usr/bin/python3
"""ckpt_check — read a checkpoint written by tests/test_ckpt.c with h5py and check every item of
the layout that docs/DATA.md documents: root attributes, tensors under HF names with their dtype
attribute (bf16 as uint16 bit patterns, f16 as numpy float16), AdamW moments, 0-d scalars, byte
blobs, the config string and the dataset checksums, and every item's crc32 attribute against
Python's zlib.crc32 of its data (and the root's, of step, arch_hash and config_hash).

Usage: /usr/bin/python3 tests/ckpt_check.py CHECKPOINT.h5
"""
import struct
import sys
import zlib

import h5py
import numpy as np


def fail(msg):
    print("ckpt_check: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def check_seal(path):
    """The last 16 bytes: b"rlvrseal", the CRC-32 of every byte before them, the format version."""
    raw = open(path, "rb").read()
    expect(len(raw) > 16 and raw[-16:-8] == b"rlvrseal", "no seal at the end of the file")
    crc, version = struct.unpack("<II", raw[-8:])
    expect(crc == zlib.crc32(raw[:-16]), "seal crc32 %08x, bytes %08x" % (crc, zlib.crc32(raw[:-16])))
    expect(version == 3, "seal format version %d" % version)


def main(path):
    check_seal(path)
    with h5py.File(path, "r") as f:
        a = f.attrs
        expect(a["format"] == "rlvr.ckpt", "format attribute: %r" % a.get("format"))
        expect(int(a["format_version"]) == 3, "format_version: %r" % a.get("format_version"))
        expect(int(a["step"]) == 42, "step: %r" % a.get("step"))
        expect(a["arch_hash"] == "arch-abc", "arch_hash: %r" % a.get("arch_hash"))
        expect(a["config_hash"] == "cfg-123", "config_hash: %r" % a.get("config_hash"))

        emb = f["model/model.embed_tokens.weight"]
        expect(emb.attrs["kind"] == "tensor" and emb.attrs["dtype"] == "f32", "embed attrs")
        expect(emb.dtype == np.float32 and emb.shape == (4, 3), "embed %s %s" % (emb.dtype, emb.shape))
        expect(np.array_equal(emb[()], np.arange(12, dtype=np.float32).reshape(4, 3)), "embed values")

        norm = f["model/model.norm.weight"]
        expect(norm.attrs["dtype"] == "bf16" and norm.dtype == np.uint16, "bf16 stored as uint16")
        as_f32 = (norm[()].astype(np.uint32) << 16).view(np.float32)
        expect(np.array_equal(as_f32, np.array([1, 2, 3], dtype=np.float32)), "bf16 values %s" % as_f32)

        m = f["optim/exp_avg/model.embed_tokens.weight"][()]
        expect(np.array_equal(m, 0.5 * np.arange(12, dtype=np.float32).reshape(4, 3)), "exp_avg values")
        v = f["optim/exp_avg_sq/model.norm.weight"]
        expect(v.dtype == np.float16 and v.attrs["dtype"] == "f16", "f16 dtype %s" % v.dtype)
        expect(np.array_equal(v[()], np.array([0.5, 1, 2], dtype=np.float16)), "f16 values")
        mask = f["model/mask"]
        expect(mask.attrs["dtype"] == "bool" and mask.dtype == np.uint8, "bool as uint8")
        expect(mask[()].tolist() == [1, 0, 1], "bool values")

        step = f["optim/step"]
        expect(step.shape == () and step.attrs["kind"] == "i64" and int(step[()]) == 7, "optim/step")
        lr = f["train/lr"]
        expect(lr.attrs["kind"] == "f64" and float(lr[()]) == 0.25, "train/lr")
        rng = f["state/rng/sampler"]
        expect(rng.attrs["kind"] == "bytes" and rng[()].tobytes() == b"\x00\x01\x02\xff", "rng bytes")
        cursor = f["state/data_cursor"][()].tobytes()
        expect(len(cursor) == 48 and cursor[:8] == b"RLVRCUR1", "data cursor %r" % cursor[:8])
        cfg = f["config"]
        expect(cfg.attrs["kind"] == "string", "config kind")
        expect(cfg.asstr()[()] == '{"run": {"seed": 1}}', "config text %r" % cfg[()])
        sums = dict(f["data_checksums"].attrs)
        expect(sums == {"builtin:addition/train": 0x0123456789ABCDEF}, "checksums %r" % sums)

        meta = struct.pack("<q", 42) + b"arch-abc\0" + b"cfg-123"
        expect(int(a["crc32"]) == zlib.crc32(meta), "root crc32 %r" % a.get("crc32"))
        items = []
        f.visititems(lambda name, obj: items.append(name) if isinstance(obj, h5py.Dataset) else None)
        expect(len(items) == 11, "items %r" % items)
        for name in items:
            d = f[name]
            data = d.asstr()[()].encode() if d.attrs["kind"] == "string" else d[()].tobytes()
            expect(int(d.attrs["crc32"]) == zlib.crc32(data), "crc32 of %s" % name)
    print("ckpt_check: ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail(__doc__.strip().splitlines()[-1])
    main(sys.argv[1])
