"""Deterministic train/dev/test assignment with no source text in two splits, in either direction.

Hashing the English side alone is not enough once both directions are trained: "Save"->"حفظ" and "Keep"->"حفظ"
have different English keys, so "حفظ" could be a training input (AR->EN) in one split and a test input in
another. So texts are nodes of a graph (each side's normalised text, as an 8-byte digest), every pair is an edge,
and a connected component — all pairs that share a text on either side, transitively — goes to one split, chosen
by a hash of the component's smallest digest. That choice depends only on the component's content, never on
input order, so the same pair lands in the same split whatever else the corpus contains (unless it becomes
connected to other pairs).
"""

from __future__ import annotations

from hala.normalize import digest, normalize_text

SPLITS = ("train", "dev", "test")


class Components:
    """Union-find over int node ids; the root of a component is its smallest id."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression keeps later finds O(1)
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo
            self.parent.setdefault(lo, lo)
        else:
            self.parent.setdefault(ra, ra)


def text_nodes(pivot_text: str, other_text: str) -> tuple[int, int]:
    """Graph nodes of a pair's two sides (the side tag keeps an identical string on both sides two nodes)."""
    return digest("pivot", normalize_text(pivot_text)), digest("other", normalize_text(other_text))


def assign(root: int, seed: int, dev_fraction: float, test_fraction: float) -> str:
    u = digest(str(seed), str(root)) / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + dev_fraction:
        return "dev"
    return "train"
