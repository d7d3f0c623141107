"""Checkpoints: one fp32 weights format for every backend (see docs/checkpoints.md).

File layout:
    8 bytes   magic b"PUFFCKPT"
    4 bytes   format version (uint32 little-endian), currently 1
    4 bytes   header length H (uint32 little-endian)
    H bytes   JSON header: env, obs_size, act_sizes, policy, tensors [{name, shape}],
              global_step, epoch, backend, crc32 (of the payload)
    payload   every tensor as little-endian float32, row-major, in header order

Tensor order and names for PufferNet: encoder.weight (H, OBS), decoder.weight (D+1, H)
(last row = value), decoder.logstd (1, A) for continuous actions, layers.<l>.weight (3H, H).
Writes are atomic (temporary file + rename)."""
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

MAGIC = b"PUFFCKPT"
VERSION = 1


class CheckpointError(ValueError):
    pass


def save(path, tensors, **meta):
    """tensors: ordered {name: array}. meta: env, policy, global_step, ... (JSON-able)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = [(name, np.ascontiguousarray(np.asarray(t, dtype="<f4"))) for name, t in tensors.items()]
    payload = b"".join(a.tobytes() for _, a in arrays)
    header = dict(meta)
    header["tensors"] = [{"name": n, "shape": list(a.shape)} for n, a in arrays]
    header["crc32"] = zlib.crc32(payload)
    blob = json.dumps(header).encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp_", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + struct.pack("<II", VERSION, len(blob)) + blob + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load(path):
    """Returns (header dict, {name: float32 array}). Raises CheckpointError if bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    data = path.read_bytes()
    if len(data) < 16 or data[:8] != MAGIC:
        raise CheckpointError(f"{path} is not a PufferLib checkpoint (bad magic)")
    version, hlen = struct.unpack("<II", data[8:16])
    if version != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version}, this PufferLib reads {VERSION}")
    try:
        header = json.loads(data[16:16 + hlen])
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: corrupt checkpoint header") from None
    payload = data[16 + hlen:]
    expected = sum(4 * int(np.prod(t["shape"])) for t in header.get("tensors", []))
    if len(payload) != expected:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint "
                              f"({len(payload)} payload bytes, expected {expected})")
    if zlib.crc32(payload) != header.get("crc32"):
        raise CheckpointError(f"{path}: corrupt checkpoint (checksum mismatch)")
    tensors, offset = {}, 0
    for t in header["tensors"]:
        n = int(np.prod(t["shape"]))
        tensors[t["name"]] = np.frombuffer(payload, "<f4", n, offset).reshape(t["shape"]).copy()
        offset += 4 * n
    return header, tensors


def load_for_env(path, env_name):
    """load(), plus a check that the checkpoint was trained on env_name."""
    header, tensors = load(path)
    if header.get("env") not in (None, env_name):
        raise CheckpointError(f"{path} was trained on {header.get('env')}, not {env_name}")
    return header, tensors


def find_latest(data_dir, env_name):
    """Newest checkpoint (.bin) of env_name under data_dir/<env>/."""
    root = Path(data_dir) / env_name
    files = [p for p in root.glob("*/**/*.bin") if p.is_file() and not p.name.startswith(".tmp_")]
    if not files:
        raise CheckpointError(f"no checkpoint of {env_name} under {root} (train one first: puffer train {env_name})")
    return max(files, key=lambda p: p.stat().st_mtime_ns)


def resolve(path, data_dir, env_name):
    if path == "latest":
        return find_latest(data_dir, env_name)
    return Path(path)
