"""Tensors rebuilt every decoding step from the previous step's, in two storages used in turn.

The beam engine gathers its caches into new tensors each step (beams reordered, finished items dropped). A fresh
multi-megabyte tensor per step pays first-touch page faults (glibc hands big freed blocks back to the system),
which on this kind of host costs about as much as the copy itself. Writing into the storage the previous step
did not use avoids that; the storages grow only when a step needs more room than they have.
"""

import math

import torch


class AlternatingBuffers:
    """Tensors each a contiguous view of its own flat storage; two sets of storages used in turn."""

    def __init__(self):
        self.turn = 0
        self.storages: list[list[torch.Tensor]] = [[], []]

    def next(self, count: int, shape: tuple[int, ...], like: torch.Tensor) -> list[torch.Tensor]:
        """`count` tensors of `shape` (dtype and device of `like`, contents undefined) in the storages the last
        call did not return, so those stay readable while these are written."""
        self.turn ^= 1
        need = math.prod(shape)
        flats = self.storages[self.turn]
        fits = len(flats) == count and flats[0].numel() >= need
        if not fits or flats[0].dtype != like.dtype or flats[0].device != like.device:
            flats = [like.new_empty(need + need // 2) for _ in range(count)]  # room to grow a while
            self.storages[self.turn] = flats
        return [flat[:need].view(shape) for flat in flats]
