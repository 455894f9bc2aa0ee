"""Slerp and linear interpolation of one tensor pair, computed piece by piece in bounded memory.

The numbers are mergekit's (0.1.5), so a merge here equals `mergekit-yaml` on the same config:
* the whole tensor is one vector: norms and the dot product run over all its elements, reduced in 1M-element
  pieces (the norm of the pieces' norms, the sum of the pieces' dots) in the same order mergekit reduces them;
* arithmetic is float32 (float64 when the inputs are float64), t included; a norm below 1e-8 counts as 1;
* when |cos| of the angle exceeds 0.9995 the pair is nearly parallel and slerp falls back to linear interpolation;
* the result is rounded to the inputs' dtype (the promotion of the two), then to the requested output dtype;
* linear is mergekit's normalised weighted sum with weights (1 - t, t).
We compute it ourselves rather than call mergekit because mergekit is an optional extra (LGPL, with its own
dependency tree) and its tensor functions take whole tensors, which is what streaming avoids.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch

PIECE = 1 << 20  # elements per piece: mergekit's slerp chunk, so both reduce over identical pieces
WHOLE_TENSOR_BYTES = 64 << 20  # tensors up to this size are read once and sliced; larger ones are re-read
DOT_THRESHOLD = 0.9995
EPS = 1e-8

Reader = Callable[[int, int], torch.Tensor]  # (start, stop) -> flat elements in the compute-input dtype
Emit = Callable[[torch.Tensor], None]


def _spans(numel: int) -> list[tuple[int, int]]:
    return [(s, min(s + PIECE, numel)) for s in range(0, numel, PIECE)]


def _pairs(read_a: Reader, read_b: Reader, numel: int, work: torch.dtype) -> Iterator[tuple[torch.Tensor, ...]]:
    for s, e in _spans(numel):
        yield read_a(s, e).to(work).reshape(1, -1), read_b(s, e).to(work).reshape(1, -1)


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def slerp(t: float, read_a: Reader, read_b: Reader, numel: int, dtype: torch.dtype, emit: Emit) -> bool:
    """Spherical interpolation from a (t = 0) to b (t = 1); emits pieces in `dtype`. Returns True when the
    nearly-parallel fallback to linear interpolation was used. Reads each input three times (norms, dot, output)."""
    work = work_dtype(dtype)
    tt = torch.tensor([[t]], dtype=work)
    if numel == 0:
        return False
    # Per-piece results go into preallocated rows: small tensors that outlive each piece would otherwise sit
    # inside the freed 4 MB blocks and fragment the heap (measured: +700 MB RSS over Gemma's embedding).
    spans = len(_spans(numel))
    norms_a, norms_b, dots = (torch.empty(spans, 1, 1, dtype=work) for _ in range(3))
    for i, (x, y) in enumerate(_pairs(read_a, read_b, numel, work)):
        torch.linalg.vector_norm(x, dim=1, keepdim=True, out=norms_a[i])
        torch.linalg.vector_norm(y, dim=1, keepdim=True, out=norms_b[i])
    norm_a = torch.linalg.vector_norm(norms_a, dim=0)
    norm_b = torch.linalg.vector_norm(norms_b, dim=0)
    norm_a = torch.where(norm_a > EPS, norm_a, 1)
    norm_b = torch.where(norm_b > EPS, norm_b, 1)
    # Normalise before multiplying (as mergekit does) so a large raw dot cannot overflow.
    for i, (x, y) in enumerate(_pairs(read_a, read_b, numel, work)):
        torch.sum((x / norm_a) * (y / norm_b), dim=1, keepdim=True, out=dots[i])
    dot = dots.sum(dim=0).clamp(-1, 1)
    linear = dot.abs() > DOT_THRESHOLD
    theta = torch.acos(torch.where(linear, 0, dot))
    sin_theta = torch.sin(theta)
    coef_a = torch.where(linear, 1 - tt, torch.sin((1 - tt) * theta) / sin_theta)
    coef_b = torch.where(linear, tt, torch.sin(tt * theta) / sin_theta)
    for x, y in _pairs(read_a, read_b, numel, work):
        emit((coef_a * x + coef_b * y).to(dtype))
    return bool(linear.item())


def linear(t: float, read_a: Reader, read_b: Reader, numel: int, dtype: torch.dtype, emit: Emit) -> bool:
    """(1 - t) * a + t * b, divided by the weights' sum (mergekit's `normalize: true`); one read of each input.
    Returns False (there is no fallback), so both methods share one signature."""
    work = work_dtype(dtype)
    weight = torch.tensor([[1 - t, t]], dtype=work)
    denominator = weight.sum(dim=1).reshape(1, 1)
    w_a, w_b = weight[:, 0].reshape(1, 1), weight[:, 1].reshape(1, 1)
    for x, y in _pairs(read_a, read_b, numel, work):
        out = torch.zeros_like(x)
        out.addcmul_(x, w_a)
        out.addcmul_(y, w_b)
        emit(out.div_(denominator).to(dtype))
    return False


METHODS = {"slerp": slerp, "linear": linear}
