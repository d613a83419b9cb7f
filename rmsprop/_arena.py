"""Zeroed state arrays for small tensors, carved back to back from shared buffers.

The engine updates small tensors in groups: their pieces are gathered into a
staging buffer, updated as one block and scattered back.  A group array whose
pieces already lie back to back in one buffer is used in place instead (see
``rmsprop._engine._adjacent``).  :class:`Arena` hands out such pieces: the states
that ``create_state`` makes for consecutive small weights are consecutive views of
one zeroed chunk (one chunk sequence per kind of state, so that the ``var`` arrays
are adjacent to each other, not interleaved with ``mean``); the engine ends a group
where the ``var`` states move on to a new chunk.  A chunk is kept alive
by the views into it; a state array is an ordinary writeable, C-contiguous array
that does not own its memory.  Large tensors get arrays of their own.
"""
import numpy as np

from ._engine import group_limits, register_chunk

__all__ = ["Arena"]

CHUNK_BLOCKS = 8      # a chunk holds this many engine blocks (staged groups end at its end)


class Arena:
    """Bump allocator of zeroed arrays of at most the engine's staging threshold
    (elements), from chunks of ``CHUNK_BLOCKS`` blocks, per dtype and per ``kind``."""

    def __init__(self):
        self._open = {}                     # (kind, dtype) -> [buffer, next free element]

    def zeros(self, shape, dtype, kind=0):
        """A zeroed C-contiguous array of ``shape`` and ``dtype``: a view into the current
        chunk of ``kind`` when the engine would stage it, else an array of its own."""
        dtype = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64))
        block, small = group_limits(dtype)
        if n == 0 or n > small:
            return np.zeros(shape, dtype)
        key = (kind, dtype)
        cur = self._open.get(key)
        if cur is None or cur[1] + n > cur[0].size:
            cur = self._open[key] = [np.zeros(block * CHUNK_BLOCKS, dtype), 0]
            register_chunk(cur[0])
        buf, at = cur
        cur[1] = at + n
        return buf[at:at + n].reshape(shape)

    def copy(self, a, dtype, kind=0):
        """``a`` converted to ``dtype``, in an array from :meth:`zeros`."""
        out = self.zeros(a.shape, dtype, kind)
        out[...] = a
        return out
