"""Independent check of the safetensors files written by tests/test_safetensors.c, and a file
written the other way round for the C reader.

The format is parsed by hand (8-byte little-endian header length, JSON header, raw bytes), so the
check does not share code or assumptions with the C implementation; torch reinterprets the bytes.
Usage: /usr/bin/python3 tests/safetensors_check.py DIR
  checks DIR/single.safetensors and DIR/sharded/ (model.safetensors.index.json + shards), then
  writes DIR/from_python.safetensors. Exits non-zero with a message on the first mismatch.
"""
import json
import os
import struct
import sys

import torch

DTYPES = {"F32": (torch.float32, 4), "BF16": (torch.bfloat16, 2), "F16": (torch.float16, 2),
          "I64": (torch.int64, 8), "I32": (torch.int32, 4), "U8": (torch.uint8, 1)}


def expected():
    """The tensors test_safetensors.c writes (same formulas, exactly representable values)."""
    return {
        "a.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1.0,
        "b.bf16": (torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1.0).to(torch.bfloat16),
        "c.f16": (torch.arange(5, dtype=torch.float32) * -0.125).to(torch.float16),
        "d.i64": torch.arange(4, dtype=torch.int64) + (1 << 40),
        "e.i32": torch.arange(3, dtype=torch.int32) * -7,
        "f.scalar": torch.tensor(3.5, dtype=torch.float32),
        "g.empty": torch.zeros(0, 4, dtype=torch.float32),
    }


def fail(msg):
    print("safetensors_check: " + msg, file=sys.stderr)
    sys.exit(1)


def read(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    if n % 8:
        fail(f"{path}: header length {n} is not a multiple of 8")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", None)
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for b, e, k in spans:
        if b != pos:
            fail(f"{path}: tensor {k} starts at {b}, expected {pos}")
        pos = e
    if pos != len(data):
        fail(f"{path}: tensors cover {pos} bytes of {len(data)}")
    out = {}
    for k, v in header.items():
        dt, size = DTYPES[v["dtype"]]
        b, e = v["data_offsets"]
        numel = 1
        for d in v["shape"]:
            numel *= d
        if e - b != numel * size:
            fail(f"{path}: tensor {k}: {e - b} bytes for shape {v['shape']}")
        buf = bytearray(data[b:e])
        t = torch.frombuffer(buf, dtype=dt) if numel else torch.zeros(0, dtype=dt)
        out[k] = t.reshape(v["shape"]).clone()
    return out, meta


def compare(got, where):
    want = expected()
    if sorted(got) != sorted(want):
        fail(f"{where}: tensor names {sorted(got)}, expected {sorted(want)}")
    for k, w in want.items():
        g = got[k]
        if g.dtype != w.dtype or list(g.shape) != list(w.shape) or not torch.equal(g, w):
            fail(f"{where}: tensor {k} differs: {g} vs {w}")


def write(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    names = {d: n for n, (d, _) in DTYPES.items()}
    for k, t in tensors.items():
        b = t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    d = sys.argv[1]
    got, meta = read(os.path.join(d, "single.safetensors"))
    compare(got, "single.safetensors")
    if meta != {"format": "pt", "note": "quote\" backslash\\"}:
        fail(f"single.safetensors: __metadata__ = {meta}")
    index = json.load(open(os.path.join(d, "sharded", "model.safetensors.index.json")))
    total, merged, files = 0, {}, set(index["weight_map"].values())
    if len(files) < 2:
        fail(f"sharded: expected several shards, index names {files}")
    for fn in sorted(files):
        t, _ = read(os.path.join(d, "sharded", fn))
        for k in t:
            if index["weight_map"].get(k) != fn:
                fail(f"sharded: {k} is in {fn} but the index says {index['weight_map'].get(k)}")
            total += t[k].numel() * t[k].element_size()
        merged.update(t)
    compare(merged, "sharded")
    if index["metadata"]["total_size"] != total:
        fail(f"sharded: total_size {index['metadata']['total_size']}, tensors hold {total}")
    write(os.path.join(d, "from_python.safetensors"),
          {"x.bf16": torch.tensor([1.5, -2.0, 65280.0], dtype=torch.bfloat16),
           "y.f32": torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 8,
           "z.i64": torch.tensor([-1, 1 << 50], dtype=torch.int64)},
          {"format": "pt", "made_by": "torch " + torch.__version__})
    print("safetensors_check: ok")


main()
