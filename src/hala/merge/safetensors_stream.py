"""Streaming safetensors I/O: read any element range of a stored tensor; write shards piece by piece.

Why not `safetensors.safe_open` / `save_file`: safe_open memory-maps whole shards, and every page a merge touches
stays mapped into the process (counted in its RSS) until the file is closed, while save_file needs a whole shard's
tensors in memory at once. Gemma-3-270M's embedding alone is 63% of the model, so merging it whole would need about
twice the model in RAM. The format is simple and documented (https://github.com/huggingface/safetensors): an
8-byte little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}`, then raw little-endian
data; this module reads it with positioned reads and writes headers first (every output size is known up front),
then the data as it is produced.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch

from hala.errors import HalaError, InputError

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
INDEX_FILE = "model.safetensors.index.json"


@dataclass(frozen=True)
class TensorInfo:
    name: str
    path: Path
    dtype: torch.dtype
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in `path`

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize


def read_header(path: Path) -> tuple[dict, int]:
    """The JSON header of one .safetensors file and the byte offset where its data begins."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise InputError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (size,) = struct.unpack("<Q", raw)
        try:
            header = json.loads(fh.read(size))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: not a safetensors file (unreadable header: {e})") from None
    return header, 8 + size


def weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / INDEX_FILE
    if index.exists():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return [model_dir / f for f in sorted(set(weight_map.values()))]
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise HalaError(f"{model_dir}: no *.safetensors weights (hala reads safetensors only)")
    return files


class CheckpointReader:
    """All tensors of a model directory (single file or sharded with an index), readable by element range."""

    def __init__(self, model_dir: str | Path):
        self.model_dir = Path(model_dir)
        self.tensors: dict[str, TensorInfo] = {}
        for path in weight_files(self.model_dir):
            header, data_start = read_header(path)
            for name, entry in header.items():
                if name == "__metadata__":
                    continue
                if entry["dtype"] not in DTYPES:
                    raise InputError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
                self.tensors[name] = TensorInfo(
                    name, path, DTYPES[entry["dtype"]], tuple(entry["shape"]), data_start + entry["data_offsets"][0]
                )
        self._files: dict[Path, BinaryIO] = {}

    def read(self, name: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Elements [start, stop) of tensor `name`, flattened, as a new 1-D tensor."""
        info = self.tensors[name]
        stop = info.numel if stop is None else stop
        size = info.dtype.itemsize
        buf = bytearray((stop - start) * size)
        fh = self._files.get(info.path) or self._files.setdefault(info.path, open(info.path, "rb", buffering=0))
        fh.seek(info.offset + start * size)
        view, done = memoryview(buf), 0
        while done < len(buf):
            n = fh.readinto(view[done:])
            if not n:
                raise InputError(f"{info.path}: truncated while reading tensor {name}")
            done += n
        if not buf:
            return torch.empty(0, dtype=info.dtype)
        return torch.frombuffer(buf, dtype=info.dtype)

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()

    def __enter__(self) -> "CheckpointReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class OutputTensor:
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class ShardWriter:
    """Write tensors, in the order given, into shards of at most `max_shard_bytes` (HF file and index names).

    `write(name, piece)` appends the next piece of the current tensor; pieces must arrive in layout order.
    Shard headers are written when a shard is opened, so nothing but the current piece is held in memory.
    """

    def __init__(self, out_dir: Path, layout: list[OutputTensor], max_shard_bytes: int):
        self.out_dir = out_dir
        self.shards = _split(layout, max_shard_bytes)
        n = len(self.shards)
        self.file_names = (
            ["model.safetensors"] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
        )
        self._queue = [(shard, t) for shard, tensors in enumerate(self.shards) for t in tensors]
        self._pos = 0  # index into _queue of the tensor being written
        self._written = 0  # bytes of that tensor written so far
        self._fh: BinaryIO | None = None
        self._shard = -1
        self._skip_empty()

    def write(self, name: str, piece: torch.Tensor) -> None:
        shard, tensor = self._queue[self._pos]
        if name != tensor.name:
            raise RuntimeError(f"write order: expected {tensor.name}, got {name}")
        if piece.dtype != tensor.dtype:
            raise RuntimeError(f"{name}: piece dtype {piece.dtype} != {tensor.dtype}")
        if shard != self._shard:
            self._open(shard)
        data = piece.contiguous().reshape(-1).view(torch.uint8).numpy()
        self._fh.write(memoryview(data))
        self._written += data.nbytes
        if self._written > tensor.nbytes:
            raise RuntimeError(f"{name}: more data than its shape {tensor.shape} holds")
        if self._written == tensor.nbytes:
            self._pos, self._written = self._pos + 1, 0
            self._skip_empty()

    def _skip_empty(self) -> None:
        # A tensor with no elements gets no write() call: it exists only in its shard's header.
        while self._pos < len(self._queue) and self._queue[self._pos][1].nbytes == 0:
            self._pos += 1

    def _open(self, shard: int) -> None:
        if self._fh is not None:
            self._fh.close()
        self._shard = shard
        self._fh = open(self.out_dir / self.file_names[shard], "wb")
        header, offset = {}, 0
        for t in self.shards[shard]:
            header[t.name] = {
                "dtype": DTYPE_NAMES[t.dtype],
                "shape": list(t.shape),
                "data_offsets": [offset, offset + t.nbytes],
            }
            offset += t.nbytes
        header["__metadata__"] = {"format": "pt"}
        raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
        raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned, as the reference writer does
        self._fh.write(struct.pack("<Q", len(raw)) + raw)

    def close(self) -> list[str]:
        """Finish (all tensors must be complete), write the index for sharded output; return the file names."""
        if self._pos != len(self._queue):
            raise RuntimeError(f"incomplete output: {self._queue[self._pos][1].name} not fully written")
        if self._shard < 0:  # every tensor was empty: the single shard still needs its header
            self._open(0)
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if len(self.shards) > 1:
            index = {
                "metadata": {"total_size": sum(t.nbytes for s in self.shards for t in s)},
                "weight_map": {t.name: self.file_names[i] for i, s in enumerate(self.shards) for t in s},
            }
            (self.out_dir / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        return list(self.file_names) + ([INDEX_FILE] if len(self.shards) > 1 else [])


def _split(layout: list[OutputTensor], max_bytes: int) -> list[list[OutputTensor]]:
    shards: list[list[OutputTensor]] = [[]]
    size = 0
    for t in layout:
        # Every new shard starts with a non-empty tensor, so each shard is opened by a write().
        if shards[-1] and t.nbytes and size + t.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards
